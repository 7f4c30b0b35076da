import TCPFlows

/// Formatting of capture times, without Foundation or the local time zone:
/// reports must read the same on every machine.
public enum TimeText {
    /// `2026-11-24 22:10:01.123456` in UTC (tcpdump -tttt style, but UTC).
    public static func utc(_ t: CaptureTime, nanoseconds: Bool = false) -> String {
        let ns = t.nanoseconds
        let secs = ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
        let frac = Int(ns - secs * 1_000_000_000)
        let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let secondOfDay = Int(secs - days * 86400)
        let (y, m, d) = civil(fromDays: Int(days))
        let fraction = nanoseconds ? pad(frac, 9) : pad(frac / 1000, 6)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(fraction)"
    }

    /// The time of day part of `utc`.
    public static func utcTimeOfDay(_ t: CaptureTime, nanoseconds: Bool = false) -> String {
        String(utc(t, nanoseconds: nanoseconds).split(separator: " ")[1])
    }

    /// A duration in seconds, to the microsecond.
    public static func seconds(_ s: Double) -> String {
        let micros = Int64((s * 1_000_000).rounded())
        let sign = micros < 0 ? "-" : ""
        let a = abs(micros)
        return "\(sign)\(a / 1_000_000).\(pad(Int(a % 1_000_000), 6))"
    }

    /// `60`, `2.5`: seconds without trailing zeros.
    public static func compactSeconds(_ s: Double) -> String {
        var text = seconds(s)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
