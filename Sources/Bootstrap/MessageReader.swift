#if canImport(Glibc)
import Glibc
#endif
import Verbs

/// Assembles one `ExchangeMessage` from a non-blocking socket, a few bytes at
/// a time, so a listener can read many clients in one poll loop and a slow or
/// silent client never holds a thread.
///
/// It reads no further than the message it assembles (the header, then
/// exactly the announced payload), so bytes a peer sends after it stay in the
/// socket for the next message. The header is checked as soon as it is
/// complete: an oversized length is refused before any payload is buffered.
struct MessageReader {
    private var buffer: [UInt8] = []
    private var header: (endpoint: QueuePairEndpoint, payloadLength: Int)?

    /// Bytes of the message received so far.
    var received: Int { buffer.count }

    private var wanted: Int {
        header.map { ExchangeMessage.headerSize + $0.payloadLength } ?? ExchangeMessage.headerSize
    }

    /// Reads what the socket has without waiting; returns the message once it
    /// is complete (and resets for the next), nil while more bytes are due.
    mutating func readAvailable(from fd: Int32) throws(BootstrapError) -> ExchangeMessage? {
        while true {
            if let header, buffer.count == wanted {
                let message = ExchangeMessage(endpoint: header.endpoint, payload: Array(buffer[ExchangeMessage.headerSize...]))
                buffer.removeAll(keepingCapacity: true)
                self.header = nil
                return message
            }
            let start = buffer.count
            let want = wanted - start
            buffer.append(contentsOf: repeatElement(0, count: want))
            let n = buffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress! + start, want, 0) }
            let err = errno
            buffer.removeLast(want - max(n, 0))
            if n == 0 {
                throw start == 0
                    ? BootstrapError(.connectionClosed, function: "recv", reason: "the peer closed the connection before a message")
                    : BootstrapError(.truncated, function: "recv", reason: "the peer closed the connection after \(start) of \(wanted) bytes")
            }
            if n < 0 {
                if err == EINTR { continue }
                if err == EAGAIN || err == EWOULDBLOCK { return nil }
                throw BootstrapError.socket("recv", errno: err, reason: "after \(start) of \(wanted) bytes")
            }
            if header == nil, start < 4, buffer.count >= 4 {
                try ExchangeMessage.checkMagic(buffer.prefix(4))
            }
            if header == nil, buffer.count == ExchangeMessage.headerSize {
                header = try ExchangeMessage.parseHeader(buffer)
            }
        }
    }

    /// Why a deadline that passed now ends this message: silence is a
    /// timeout, a message begun and not finished is truncated.
    func deadlineError(function: String) -> BootstrapError {
        buffer.isEmpty
            ? BootstrapError(.timedOut, function: function, reason: "nothing received before the deadline")
            : BootstrapError(.truncated, function: function, reason: "\(buffer.count) of \(wanted) bytes before the deadline")
    }
}
