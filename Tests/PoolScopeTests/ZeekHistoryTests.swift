@testable import TCPFlows
import Testing

/// The Zeek history keeps its letters as bytes, the first 24 in place.
@Suite struct ZeekHistoryLetters {
    @Test(arguments: [0, 1, 7, 8, 23, 24, 25, 40])
    func lettersComeBackInOrderAtEveryLength(_ length: Int) {
        var log = ZeekConnState.HistoryLog()
        var expected = ""
        for i in 0..<length {
            let capital = UInt8(ascii: "A") + UInt8(i % 26)
            let originator = i % 3 != 0
            log.add(capital, isOriginator: originator)
            expected.unicodeScalars.append(Unicode.Scalar(originator ? capital : capital + 32))
        }
        #expect(log.text == expected)
    }

    @Test func aFlippedConnectionStartsWithACaret() {
        var log = ZeekConnState.HistoryLog()
        log.append(UInt8(ascii: "^"))
        log.add(UInt8(ascii: "S"), isOriginator: false)
        #expect(log.text == "^s")
    }
}
