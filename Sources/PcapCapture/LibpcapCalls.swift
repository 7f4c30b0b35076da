// Every call into libpcap, in one file (swift-system's Syscalls.swift pattern):
// the rest of the package sees typed Swift values and CaptureError, never
// C pointers or error buffers.
import CPcap

/// A libpcap handle: `pcap_t *`.
typealias PcapHandle = OpaquePointer

enum Libpcap {
    static let errorBufferSize = Int(PCAP_ERRBUF_SIZE)

    /// Calls `body` with a zeroed PCAP_ERRBUF_SIZE buffer and returns its text.
    static func withErrorBuffer<T>(_ body: (UnsafeMutablePointer<CChar>) -> T) -> (T, String) {
        var buffer = [CChar](repeating: 0, count: errorBufferSize)
        let result = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return (result, message)
    }

    /// Opens a savefile (pcap or pcapng; "-" is standard input) with
    /// nanosecond timestamps, whatever the file's own resolution.
    static func openOffline(_ path: String) -> Result<PcapHandle, CaptureError> {
        let (handle, message) = withErrorBuffer { errbuf in
            pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), errbuf)
        }
        guard let handle else {
            // libpcap often starts the message with the path; the error names it once.
            var text = CaptureError.clean(message)
            if text.hasPrefix(path + ": ") { text.removeFirst(path.count + 2) }
            return .failure(.open(source: path, message: text))
        }
        return .success(handle)
    }

    static func create(device: String) -> Result<PcapHandle, CaptureError> {
        let (handle, message) = withErrorBuffer { errbuf in pcap_create(device, errbuf) }
        guard let handle else { return .failure(.open(source: device, message: CaptureError.clean(message))) }
        return .success(handle)
    }

    static func configureLive(_ handle: PcapHandle, snaplen: Int32, promiscuous: Bool, timeoutMilliseconds: Int32, bufferBytes: Int32) {
        pcap_set_snaplen(handle, snaplen)
        pcap_set_buffer_size(handle, bufferBytes)
        pcap_set_promisc(handle, promiscuous ? 1 : 0)
        pcap_set_immediate_mode(handle, 1)
        pcap_set_timeout(handle, timeoutMilliseconds)
        // Ask for nanoseconds; not every device can, and activate() still succeeds.
        pcap_set_tstamp_precision(handle, Int32(PCAP_TSTAMP_PRECISION_NANO))
    }

    /// pcap_activate: 0 or a warning (> 0) is success; < 0 is a typed error.
    static func activate(_ handle: PcapHandle, device: String) -> CaptureError? {
        let status = pcap_activate(handle)
        if status >= 0 { return nil }
        let detail = CaptureError.clean(String(cString: pcap_geterr(handle)))
        switch status {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            return .noSuchDevice(device: device, message: detail)
        case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED:
            return .permissionDenied(device: device, message: detail)
        case PCAP_ERROR_IFACE_NOT_UP:
            return .open(source: device, message: "interface is not up")
        default:
            let text = detail.isEmpty ? String(cString: pcap_statustostr(status)) : detail
            return .open(source: device, message: text)
        }
    }

    /// Puts an activated live handle in non-blocking mode and returns the
    /// descriptor to poll. In immediate mode libpcap's Linux reader ignores
    /// the read timeout and would block until a packet comes, so a quiet
    /// interface would never notice --duration: we poll with our own timeout.
    static func makeNonblocking(_ handle: PcapHandle) -> Int32? {
        let (status, _) = withErrorBuffer { errbuf in pcap_setnonblock(handle, 1, errbuf) }
        guard status == 0 else { return nil }
        let fd = pcap_get_selectable_fd(handle)
        return fd >= 0 ? fd : nil
    }

    /// Waits until `fd` is readable or `milliseconds` pass (or a signal arrives).
    static func waitReadable(_ fd: Int32, milliseconds: Int32) {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, milliseconds)
    }

    /// Nanoseconds per unit of `tv_usec` for this handle (1 or 1000).
    static func timestampScale(_ handle: PcapHandle) -> Int64 {
        pcap_get_tstamp_precision(handle) == Int32(PCAP_TSTAMP_PRECISION_NANO) ? 1 : 1000
    }

    static func datalink(_ handle: PcapHandle) -> Int32 { pcap_datalink(handle) }

    /// How far into its file an offline capture has read (-1 for a pipe).
    static func fileOffset(_ handle: PcapHandle) -> Int64 {
        guard let file = pcap_file(handle) else { return -1 }
        return Int64(ftell(file))
    }

    /// Moves an offline capture to the record at `offset` (classic pcap: libpcap
    /// keeps no other position, so reading goes on from there).
    static func seek(_ handle: PcapHandle, to offset: Int) -> Bool {
        guard let file = pcap_file(handle) else { return false }
        return fseeko(file, off_t(offset), SEEK_SET) == 0
    }

    static func snapshotLength(_ handle: PcapHandle) -> Int32 { pcap_snapshot(handle) }

    /// Compiles and installs a BPF filter; the error quotes libpcap's message.
    static func setFilter(_ handle: PcapHandle, expression: String) -> CaptureError? {
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            return .filter(expression: expression, message: CaptureError.clean(String(cString: pcap_geterr(handle))))
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(handle, &program) == 0 else {
            return .filter(expression: expression, message: CaptureError.clean(String(cString: pcap_geterr(handle))))
        }
        return nil
    }

    enum NextResult {
        case packet(UnsafePointer<pcap_pkthdr>, UnsafePointer<UInt8>)
        case timeout
        case end
        case interrupted
        case error(String)
    }

    @inline(__always)
    static func next(_ handle: PcapHandle) -> NextResult {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        switch pcap_next_ex(handle, &header, &data) {
        case 1: return .packet(UnsafePointer(header!), data!)
        case 0: return .timeout
        case PCAP_ERROR_BREAK: return .end
        default: return .error(CaptureError.clean(String(cString: pcap_geterr(handle))))
        }
    }

    /// Safe to call from a signal handler (libpcap documents it so).
    static func breakLoop(_ handle: PcapHandle) { pcap_breakloop(handle) }

    static func statistics(_ handle: PcapHandle) -> (received: UInt32, dropped: UInt32, interfaceDropped: UInt32)? {
        var stats = pcap_stat()
        guard pcap_stats(handle, &stats) == 0 else { return nil }
        return (stats.ps_recv, stats.ps_drop, stats.ps_ifdrop)
    }

    static func close(_ handle: PcapHandle) { pcap_close(handle) }

    // MARK: - Savefile writing (sniff -w)

    static func openDump(_ handle: PcapHandle, path: String) -> Result<OpaquePointer, CaptureError> {
        guard let dumper = pcap_dump_open(handle, path) else {
            return .failure(.write(path: path, message: CaptureError.clean(String(cString: pcap_geterr(handle)))))
        }
        return .success(dumper)
    }

    @inline(__always)
    static func dump(_ dumper: OpaquePointer, header: UnsafePointer<pcap_pkthdr>, data: UnsafePointer<UInt8>) {
        pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), header, data)
    }

    static func flushDump(_ dumper: OpaquePointer) { pcap_dump_flush(dumper) }

    static func closeDump(_ dumper: OpaquePointer) {
        pcap_dump_flush(dumper)
        pcap_dump_close(dumper)
    }

    static var version: String { String(cString: pcap_lib_version()) }
}
