using System.Runtime.CompilerServices;
using System.Net.Sockets;

namespace Strata.Iscsi.Pdu;

/// <summary>
/// Reads a connection's byte stream: one receive usually brings several small PDUs into a buffer; a large data
/// segment is received straight into its destination (the command's buffer) instead of being copied twice.
/// </summary>
/// <remarks>Receives take no cancellation token (registering one allocates per receive): a closed connection
/// shuts the socket down, which ends a pending receive.</remarks>
internal sealed class PduReader
{
    private readonly Socket _socket;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;

    public PduReader(Socket socket, int bufferSize = 64 * 1024)
    {
        _socket = socket;
        _buffer = GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true);
    }

    /// <summary>Bytes received beyond what was consumed.</summary>
    public int Buffered => _end - _start;

    /// <summary>
    /// Waits until <paramref name="count"/> bytes are buffered. False when the peer closed the connection before
    /// any byte of them arrived; a close in the middle throws.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> FillAsync(int count, CancellationToken ct)
    {
        if (count > _buffer.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        while (_end - _start < count)
        {
            if (_buffer.Length - _start < count)
            {
                // Move the partial PDU to the front so the rest fits behind it.
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            int n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).ConfigureAwait(false);
            if (n == 0)
            {
                if (_end == _start)
                {
                    return false;
                }

                throw new EndOfStreamException("the initiator closed the connection in the middle of a PDU");
            }

            _end += n;
        }

        return true;
    }

    public ReadOnlySpan<byte> Peek(int count) => _buffer.AsSpan(_start, count);

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes into it.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadExactlyAsync(Memory<byte> destination, CancellationToken ct)
    {
        int fromBuffer = Math.Min(destination.Length, _end - _start);
        _buffer.AsSpan(_start, fromBuffer).CopyTo(destination.Span);
        Consume(fromBuffer);
        destination = destination[fromBuffer..];
        while (!destination.IsEmpty)
        {
            if (destination.Length < _buffer.Length / 4)
            {
                // Small remainder: receive into the buffer, which may also bring the next PDUs.
                if (!await FillAsync(destination.Length, ct).ConfigureAwait(false))
                {
                    throw new EndOfStreamException("the initiator closed the connection in the middle of a PDU");
                }

                Peek(destination.Length).CopyTo(destination.Span);
                Consume(destination.Length);
                return;
            }

            int n = await _socket.ReceiveAsync(destination, SocketFlags.None).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException("the initiator closed the connection in the middle of a PDU");
            }

            destination = destination[n..];
        }
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SkipAsync(int count, CancellationToken ct)
    {
        while (count > 0)
        {
            int chunk = Math.Min(count, _buffer.Length);
            if (!await FillAsync(chunk, ct).ConfigureAwait(false))
            {
                throw new EndOfStreamException("the initiator closed the connection in the middle of a PDU");
            }

            Consume(chunk);
            count -= chunk;
        }
    }
}
