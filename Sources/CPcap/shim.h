// The one C header PoolScope imports: libpcap's public API.
// Only the PcapCapture target imports this module (see LibpcapCalls.swift).
#ifndef POOLSCOPE_CPCAP_SHIM_H
#define POOLSCOPE_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <signal.h>
#include <poll.h>
#endif
