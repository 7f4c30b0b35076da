import Foundation
import PoolScope
import Testing

/// Validates JSON against schema/poolscope.report.schema.json with the
/// keywords that file uses: type, const, enum, required, properties, items,
/// $ref (to #/$defs), oneOf, allOf, minimum, maximum.
struct SchemaValidator {
    let root: [String: Any]

    init(path: String) throws {
        root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func errors(_ value: Any, against schema: [String: Any], at path: String = "$") -> [String] {
        var errors: [String] = []
        if let ref = schema["$ref"] as? String {
            let name = String(ref.dropFirst("#/$defs/".count))
            guard let target = (root["$defs"] as? [String: Any])?[name] as? [String: Any] else { return ["\(path): unknown $ref \(ref)"] }
            errors += self.errors(value, against: target, at: path)
        }
        if let types = schema["type"] {
            let allowed = (types as? [String]) ?? [types as! String]
            if !allowed.contains(where: { Self.matches(value, type: $0) }) { errors.append("\(path): not \(allowed)") }
        }
        if let constant = schema["const"], !Self.equal(value, constant) { errors.append("\(path): not \(constant)") }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal(value, $0) }) { errors.append("\(path): \(value) not in enum") }
        if let minimum = schema["minimum"] as? Double, let n = value as? NSNumber, n.doubleValue < minimum { errors.append("\(path): below \(minimum)") }
        if let maximum = schema["maximum"] as? Double, let n = value as? NSNumber, n.doubleValue > maximum { errors.append("\(path): above \(maximum)") }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { errors.append("\(path): missing \(key)") }
            for (key, sub) in schema["properties"] as? [String: [String: Any]] ?? [:] {
                if let v = object[key] { errors += self.errors(v, against: sub, at: "\(path).\(key)") }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (i, v) in array.enumerated() { errors += self.errors(v, against: items, at: "\(path)[\(i)]") }
        }
        if let all = schema["allOf"] as? [[String: Any]] {
            for s in all { errors += self.errors(value, against: s, at: path) }
        }
        if let one = schema["oneOf"] as? [[String: Any]] {
            let passing = one.filter { self.errors(value, against: $0, at: path).isEmpty }.count
            if passing != 1 { errors.append("\(path): matches \(passing) of oneOf") }
        }
        return errors
    }

    func errors(_ value: Any, definition: String) -> [String] {
        errors(value, against: ["$ref": "#/$defs/\(definition)"])
    }

    static func matches(_ v: Any, type: String) -> Bool {
        switch type {
        case "null": return v is NSNull
        case "boolean": return (v as? NSNumber).map(isBool) ?? false
        case "integer": return (v as? NSNumber).map { !isBool($0) && $0.doubleValue == $0.doubleValue.rounded() } ?? false
        case "number": return (v as? NSNumber).map { !isBool($0) } ?? false
        case "string": return v is String
        case "array": return v is [Any]
        case "object": return v is [String: Any]
        default: return false
        }
    }

    /// JSON true/false come back as a boolean NSNumber subclass, numbers as plain NSNumber.
    static func isBool(_ n: NSNumber) -> Bool { String(describing: type(of: n)).contains("Boolean") }

    static func equal(_ a: Any, _ b: Any) -> Bool {
        if a is NSNull || b is NSNull { return a is NSNull && b is NSNull }
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
        return false
    }
}

@Suite struct ReportSchema {
    static let schemaPath = Paths.packageRoot.appendingPathComponent("schema/poolscope.report.schema.json").path
    static let fixtures = ["go-default-pool.pcap", "py-refused.pcap", "py-simultaneous-close.pcap", "py-port-reuse.pcap",
                           "curl-keepalive-nano.pcap", "curl-keepalive-ipv6.pcap", "py-rst-linger.pcap",
                           "http-curl-features.pcap", "https-go-h2.pcap", "http-websocket.pcap"]

    @Test(arguments: fixtures)
    func jsonDocumentMatchesTheSchema(fixture: String) throws {
        let validator = try SchemaValidator(path: Self.schemaPath)
        let r = try runPoolscope(["analyze", Paths.fixture(fixture), "--format", "json"])
        let document = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        let errors = validator.errors(document, against: validator.root)
        #expect(errors.isEmpty, "\(errors.prefix(5))")
    }

    @Test(arguments: fixtures)
    func ndjsonRecordsMatchTheSchema(fixture: String) throws {
        let validator = try SchemaValidator(path: Self.schemaPath)
        let r = try runPoolscope(["analyze", Paths.fixture(fixture), "--format", "ndjson"])
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count >= 2)
        for (i, line) in lines.enumerated() {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let definition = i == lines.count - 1 ? "captureRecord" : "connectionRecord"
            #expect(record["type"] as? String == (definition == "captureRecord" ? "capture" : "connection"))
            let errors = validator.errors(record, definition: definition)
            #expect(errors.isEmpty, "line \(i + 1): \(errors.prefix(5))")
        }
    }

    /// The validator can fail: a connection without `zeek`, with a bad close kind.
    @Test func brokenDocumentsAreRejected() throws {
        let validator = try SchemaValidator(path: Self.schemaPath)
        let r = try runPoolscope(["analyze", Paths.fixture("go-default-pool.pcap"), "--format", "json"])
        var document = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        var connections = try #require(document["connections"] as? [[String: Any]])
        connections[0]["zeek"] = nil
        var close = try #require(connections[1]["close"] as? [String: Any])
        close["kind"] = "closed"
        connections[1]["close"] = close
        document["connections"] = connections
        let errors = validator.errors(document, against: validator.root)
        #expect(errors.contains("$.connections[0]: missing zeek"))
        #expect(errors.contains { $0.hasPrefix("$.connections[1].close.kind") })
    }
}
