import Foundation
import PcapTestSupport
import PoolScope
import Testing

@Suite struct HTMLReports {
    /// A request whose target and Host are markup must render as text.
    @Test func stringsFromTheCaptureAreEscaped() throws {
        var c = TCPConversation(client: ("10.0.0.1", 40000), server: ("10.0.0.2", 80))
        c.handshake()
        c.exchange(request: "GET /<script>alert(1)</script> HTTP/1.1\r\nHost: \"><img src=x onerror=alert(1)>\r\n\r\n",
                   response: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        c.clientCloses()
        let html = HTMLReport.render(analyze(c))
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(html.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
    }

    /// One file: no scripts, stylesheets, fonts or images fetched from anywhere.
    @Test func selfContained() throws {
        let report = try CaptureRun.analyzeFiles([Paths.fixture("pool-go-default-c20.pcap")])
        let html = HTMLReport.render(report)
        for forbidden in ["<script", "<link", "@import", "src=", "url(", "http://", "https://"] {
            #expect(!html.contains(forbidden), "the report contains \(forbidden)")
        }
        #expect(html.components(separatedBy: "<g class=\"lane\">").count - 1 == 56)
    }

    /// 10,000 connections from 10,000 clients (10,000 pools): the busiest pools
    /// are drawn, the next listed, the rest counted; the file stays small.
    @Test func tenThousandConnectionsStaySmall() throws {
        var conversations: [TCPConversation] = []
        for i in 0..<10_000 {
            var c = TCPConversation(client: ("10.1.\(i / 250).\(i % 250)", 40000), server: ("10.0.0.2", 80),
                                    start: 1_700_000_000_000_000_000 + Int64(i) * 10_000_000)
            c.handshake()
            c.exchange(request: "GET /\(i) HTTP/1.1\r\nHost: api\r\n\r\n", response: "HTTP/1.1 204 No Content\r\n\r\n")
            c.clientCloses()
            conversations.append(c)
        }
        let report = analyze(conversations)
        #expect(report.connections.count == 10_000)
        let html = HTMLReport.render(report)
        #expect(html.utf8.count < 3_000_000, "\(html.utf8.count) bytes")
        #expect(html.contains("more pools not listed"))
        #expect(html.components(separatedBy: "<g class=\"lane\">").count - 1 == HTMLReport.detailedPoolLimit)
    }

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A real browser: Debian's headless Chromium renders a fixture's report to
    /// a PNG, with the lanes and the finding in its DOM and nothing on its console.
    @Test(.enabled(if: chromium != nil, "chromium not installed (apt-get install chromium): browser check skipped"))
    func rendersInHeadlessChromium() throws {
        let dir = Paths.temporaryDirectory()
        let html = dir.appendingPathComponent("report.html").path, png = dir.appendingPathComponent("report.png").path
        let r = try runPoolscope(["report", Paths.fixture("go-default-pool.pcap"), "-o", html])
        #expect(r.status == 0)
        func browser(_ arguments: [String]) throws -> (String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.chromium!)
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                           "--user-data-dir=\(dir.appendingPathComponent("profile").path)"] + arguments + ["file://\(html)"]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        let (_, shotLog) = try browser(["--screenshot=\(png)", "--window-size=1200,900"])
        let size = (try? FileManager.default.attributesOfItem(atPath: png)[.size] as? Int) ?? 0
        #expect(size > 20_000, "screenshot of \(size) bytes")
        let (dom, domLog) = try browser(["--dump-dom"])
        #expect(dom.components(separatedBy: "class=\"lane\"").count - 1 == 4)
        #expect(dom.contains("idle-cap-churn"))
        for log in [shotLog, domLog] {
            #expect(!log.contains("CONSOLE"), "console messages: \(log.split(separator: "\n").filter { $0.contains("CONSOLE") })")
        }
    }
}

extension HTMLReports {
    /// 1,000 connections in one pool: lanes are capped.
    @Test func manyConnectionsInOnePoolAreCapped() throws {
        var conversations: [TCPConversation] = []
        for i in 0..<1_000 {
            var c = TCPConversation(client: ("10.1.0.1", UInt16(32768 + i)), server: ("10.0.0.2", 80),
                                    start: 1_700_000_000_000_000_000 + Int64(i) * 10_000_000)
            c.handshake()
            c.exchange(request: "GET / HTTP/1.1\r\nHost: api\r\n\r\n", response: "HTTP/1.1 204 No Content\r\n\r\n")
            c.clientCloses()
            conversations.append(c)
        }
        let html = HTMLReport.render(analyze(conversations))
        #expect(html.components(separatedBy: "<g class=\"lane\">").count - 1 == HTMLReport.laneLimit)
        #expect(html.contains("600 more connections not drawn"))
    }
}
