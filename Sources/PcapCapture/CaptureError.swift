/// A fault in capture input or output, as one line that names the source and the cause.
public enum CaptureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file or device could not be opened (missing, unreadable, not a capture).
    case open(source: String, message: String)
    /// Reading stopped at a fault part way through (cut-off record, impossible length).
    case read(source: String, message: String)
    /// libpcap rejected the BPF filter expression.
    case filter(expression: String, message: String)
    /// No interface of that name.
    case noSuchDevice(device: String, message: String)
    /// Not allowed to capture on the interface.
    case permissionDenied(device: String, message: String)
    /// The -w output file could not be written.
    case write(path: String, message: String)

    public var description: String {
        switch self {
        case let .open(source, message):
            return "\(Self.name(source)): \(message)"
        case let .read(source, message):
            return "\(Self.name(source)): \(message)"
        case let .filter(expression, message):
            return "invalid filter expression '\(expression)': \(message)"
        case let .noSuchDevice(device, _):
            return "\(device): no such interface (list them with `ip link` or `tcpdump -D`)"
        case let .permissionDenied(device, message):
            let cause = message.isEmpty ? "permission denied" : message
            return "\(device): \(cause); capture needs root or CAP_NET_RAW and CAP_NET_ADMIN "
                + "(run with sudo, or: sudo setcap cap_net_raw,cap_net_admin=eip $(command -v poolscope))"
        case let .write(path, message):
            return "\(path): cannot write: \(message)"
        }
    }

    /// "-" is standard input.
    static func name(_ source: String) -> String { source == "-" ? "<stdin>" : source }

    /// libpcap messages sometimes repeat the file name or end in a newline; keep one clean line.
    static func clean(_ message: String) -> String {
        var text = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        while text.hasSuffix(" ") || text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
