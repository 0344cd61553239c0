using System.Runtime.CompilerServices;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Strata.Iscsi.Pdu;

/// <summary>
/// A reusable gathered send: one <see cref="SocketAsyncEventArgs"/> whose completion is a ValueTask, so sending a
/// batch of PDUs (headers from one buffer, data straight from the tasks' buffers) allocates nothing.
/// </summary>
internal sealed class SocketSender : SocketAsyncEventArgs, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _source = new() { RunContinuationsAsynchronously = false };

    public SocketSender()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    /// <summary>Sends every segment of <paramref name="segments"/> completely.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAllAsync(Socket socket, List<ArraySegment<byte>> segments)
    {
        while (segments.Count > 0)
        {
            int sent = await SendOnceAsync(socket, segments).ConfigureAwait(false);
            if (sent <= 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }

            // A partial send: drop what went out and send the rest.
            int i = 0;
            while (i < segments.Count && sent >= segments[i].Count)
            {
                sent -= segments[i].Count;
                i++;
            }

            segments.RemoveRange(0, i);
            if (sent > 0)
            {
                var first = segments[0];
                segments[0] = new ArraySegment<byte>(first.Array!, first.Offset + sent, first.Count - sent);
            }
        }
    }

    private ValueTask<int> SendOnceAsync(Socket socket, List<ArraySegment<byte>> segments)
    {
        _source.Reset();
        BufferList = segments;
        if (!socket.SendAsync(this))
        {
            OnCompleted(this);
        }

        return new ValueTask<int>(this, _source.Version);
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        BufferList = null;
        if (SocketError == SocketError.Success)
        {
            _source.SetResult(BytesTransferred);
        }
        else
        {
            _source.SetException(new SocketException((int)SocketError));
        }
    }

    public int GetResult(short token) => _source.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _source.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}
