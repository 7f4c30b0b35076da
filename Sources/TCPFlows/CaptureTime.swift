/// A moment in the capture: nanoseconds since the Unix epoch, taken from packet
/// timestamps only. The core never reads a clock; time is always passed in.
public struct CaptureTime: Hashable, Comparable, Sendable {
    public var nanoseconds: Int64

    @inlinable
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public init(seconds: Double) { nanoseconds = Int64((seconds * 1e9).rounded()) }

    public static func < (a: CaptureTime, b: CaptureTime) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Seconds since the epoch (for arithmetic; reports format from `nanoseconds`).
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// `b - a` in seconds.
    public static func seconds(from a: CaptureTime, to b: CaptureTime) -> Double {
        Double(b.nanoseconds - a.nanoseconds) / 1e9
    }
}
