// The one C header PoolScope imports: libpcap's public API, and a prefetch
// (Swift has none) for the savefile reader's records.
// Only the PcapCapture target imports this module (see LibpcapCalls.swift).
#ifndef POOLSCOPE_CPCAP_SHIM_H
#define POOLSCOPE_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <signal.h>
#include <poll.h>

/// Asks for the two cache lines from `p` (a record's header and its packet's
/// first bytes: Ethernet, IPv4 and TCP headers, and the payload's start) to be
/// loaded, for reading soon. A hint: it never faults.
static inline void poolscope_prefetch_record(const void *p) {
    __builtin_prefetch(p, 0, 3);
    __builtin_prefetch((const char *)p + 64, 0, 3);
}
#endif
