import Foundation
import HTTPStreams
import NIOCore
import NIOEmbedded
import NIOHTTP1

// A client stream like a keep-alive pool's: GETs with browser-like headers and
// some POSTs with bodies, cut into 1448-byte segments as TCP would carry it.
var stream: [UInt8] = []
var expected = 0
for i in 0..<200_000 {
    let body = i % 10 == 0 ? String(repeating: "x", count: 300 + i % 700) : ""
    let method = body.isEmpty ? "GET" : "POST"
    var request = "\(method) /api/v1/items/\(i)?page=\(i % 17)&sort=desc HTTP/1.1\r\nHost: api.example.com\r\n"
    request += "User-Agent: Go-http-client/1.1\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n"
    request += "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.\(i)\r\nX-Request-Id: \(UUID().uuidString)\r\n"
    if !body.isEmpty { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + body
    stream += Array(request.utf8)
    expected += 1
}
let segmentSize = 1448
let segments = stride(from: 0, to: stream.count, by: segmentSize).map { Array(stream[$0..<min($0 + segmentSize, stream.count)]) }
let megabytes = Double(stream.count) / 1e6
print("stream: \(expected) requests, \(String(format: "%.1f", megabytes)) MB in \(segments.count) segments of \(segmentSize) bytes")

func measure(_ name: String, _ body: () throws -> Int) rethrows {
    var best = Double.infinity
    var count = 0
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        count = try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    print(String(format: "%@: %d requests, best of 5 %.3f s, %.0f MB/s, %.2f M segments/s",
                 name, count, best, megabytes / best, Double(segments.count) / best / 1e6))
}

measure("PoolScope HTTPFramer (in place over each segment)") {
    var framer = HTTPFramer(role: .requests)
    var events: [HTTPFramerEvent] = []
    var heads = 0
    for segment in segments {
        segment.withUnsafeBytes { framer.consume($0, at: 0, events: &events, responseBody: { _ in .none }) }
        for e in events { if case .head = e { heads += 1 } }
        events.removeAll(keepingCapacity: true)
    }
    return heads
}

try measure("NIOHTTP1 HTTPRequestDecoder (EmbeddedChannel, a ByteBuffer per segment)") {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
    var heads = 0
    for segment in segments {
        var buffer = channel.allocator.buffer(capacity: segment.count)
        buffer.writeBytes(segment)
        try channel.writeInbound(buffer)
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
            if case .head = part { heads += 1 }
        }
    }
    _ = try channel.finish()
    return heads
}
