import CPcap  // signal() and SIGINT only; libpcap calls go through LibpcapCalls.swift
import Synchronization

/// Live capture from an interface through libpcap: immediate mode, a short read
/// timeout (so duration limits and signals are noticed), optional BPF filter,
/// and optional `-w` output of the raw packets to a pcap savefile.
public final class LiveCapture: PacketSource {
    public struct Settings: Sendable {
        public var device: String
        public var snaplen: Int32 = 262_144
        public var promiscuous = false
        /// The kernel capture buffer. libpcap's 2 MiB default dropped
        /// packets on `-i any` here even at loopback test rates; 32 MiB did not.
        public var bufferBytes: Int32 = 32 << 20
        public var filter: String?
        /// Write every packet read to this savefile as well (tcpdump's -w).
        public var writeTo: String?
        public init(device: String) { self.device = device }
    }

    public struct Statistics: Sendable, Equatable {
        /// Packets the kernel received (ps_recv).
        public var received: UInt32
        /// Packets dropped for lack of buffer space (ps_drop).
        public var dropped: UInt32
        /// Packets the interface dropped (ps_ifdrop; 0 where unsupported).
        public var interfaceDropped: UInt32
    }

    public let settings: Settings
    public let linkType: Int32
    private let handle: PcapHandle
    private let timestampScale: Int64
    private var dumper: OpaquePointer?
    /// The descriptor polled between non-blocking reads (nil: blocking reads).
    private let selectableDescriptor: Int32?

    public init(_ settings: Settings) throws(CaptureError) {
        let handle: PcapHandle
        switch Libpcap.create(device: settings.device) {
        case .success(let h): handle = h
        case .failure(let e): throw e
        }
        Libpcap.configureLive(handle, snaplen: settings.snaplen, promiscuous: settings.promiscuous, timeoutMilliseconds: 100,
                              bufferBytes: settings.bufferBytes)
        if let error = Libpcap.activate(handle, device: settings.device) {
            Libpcap.close(handle)
            throw error
        }
        if let filter = settings.filter, !filter.isEmpty, let error = Libpcap.setFilter(handle, expression: filter) {
            Libpcap.close(handle)
            throw error
        }
        if let path = settings.writeTo {
            switch Libpcap.openDump(handle, path: path) {
            case .success(let d): dumper = d
            case .failure(let e):
                Libpcap.close(handle)
                throw e
            }
        }
        self.settings = settings
        self.handle = handle
        selectableDescriptor = Libpcap.makeNonblocking(handle)
        linkType = Libpcap.datalink(handle)
        timestampScale = Libpcap.timestampScale(handle)
    }

    deinit {
        if let dumper { Libpcap.closeDump(dumper) }
        Libpcap.close(handle)
    }

    public func next() -> PacketReadResult {
        if LiveCapture.stopRequested.load(ordering: .relaxed) { return .end }
        switch Libpcap.next(handle) {
        case let .packet(header, data):
            if let dumper { Libpcap.dump(dumper, header: header, data: data) }
            let h = header.pointee
            return .packet(CapturedPacket(
                timestamp: Int64(h.ts.tv_sec) &* 1_000_000_000 &+ Int64(h.ts.tv_usec) &* timestampScale,
                wireLength: Int(h.len),
                bytes: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)),
                linkType: linkType,
                sourceIndex: 0
            ))
        case .timeout:
            // Non-blocking: nothing buffered. Wait up to 100 ms for more, so
            // the caller can check its deadline and stop flag in between.
            if let fd = selectableDescriptor { Libpcap.waitReadable(fd, milliseconds: 100) }
            return .timeout
        case .end, .interrupted: return .end
        case .error(let message): return .failed(.read(source: settings.device, message: message))
        }
    }

    /// Makes the current or next read return `.end`. Safe from a signal handler.
    public func stop() {
        LiveCapture.stopRequested.store(true, ordering: .relaxed)
        Libpcap.breakLoop(handle)
    }

    /// libpcap's received/dropped counters so far.
    public var statistics: Statistics? {
        Libpcap.statistics(handle).map { Statistics(received: $0.received, dropped: $0.dropped, interfaceDropped: $0.interfaceDropped) }
    }

    /// Flushes the -w savefile so a reader sees every packet so far.
    public func flushSavefile() {
        if let dumper { Libpcap.flushDump(dumper) }
    }

    // MARK: - Stopping on SIGINT / SIGTERM

    /// Set by the SIGINT/SIGTERM handler, read before every read. libpcap's
    /// breakloop flag alone is not enough: in non-blocking mode its Linux
    /// reader returns "no packets" without ever looking at it. A lock-free
    /// atomic store is safe in a signal handler.
    private static let stopRequested = Atomic<Bool>(false)

    /// The capture the signal handler also breaks out of (for blocking reads).
    /// A C signal handler cannot capture context, so it reads this.
    nonisolated(unsafe) private static var signalTarget: PcapHandle?

    /// Installs SIGINT and SIGTERM handlers that stop this capture cleanly,
    /// so the caller still prints its final report.
    public func stopOnInterrupt() {
        LiveCapture.signalTarget = handle
        let handler: @convention(c) (Int32) -> Void = { _ in
            LiveCapture.stopRequested.store(true, ordering: .relaxed)
            if let target = LiveCapture.signalTarget { Libpcap.breakLoop(target) }
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may have spawned us with these blocked (Foundation's
        // Process passes its own signal mask on); a blocked SIGINT would
        // never reach the handler.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        sigaddset(&mask, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
    }

}

/// The libpcap version string (for reports and --version).
public var libpcapVersion: String { Libpcap.version }
