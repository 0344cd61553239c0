using System.Threading.Tasks.Sources;

namespace Strata.Replication.Server;

/// <summary>
/// Bounds a connection's requests in flight (received, not yet answered) in number and in buffer bytes. One waiter
/// at a time, the connection's receive loop: it waits for room before it takes another request (so a client that
/// sends faster than the device serves meets TCP backpressure), and for none in flight before it closes. Waiting
/// and releasing allocate nothing.
/// </summary>
internal sealed class InFlightLimit : IValueTaskSource
{
    private readonly Lock _lock = new();
    private readonly int _maxCount;
    private readonly long _maxBytes;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _count;
    private long _bytes;
    private Wait _wait;
    private int _wantBytes;

    public InFlightLimit(int maxCount, long maxBytes)
    {
        _maxCount = maxCount;
        _maxBytes = maxBytes;
    }

    private enum Wait
    {
        None,
        Room,
        Idle,
    }

    /// <summary>The count without the lock: a hint, possibly stale.</summary>
    public int CountHint => Volatile.Read(ref _count);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>Takes a place for a request holding <paramref name="bytes"/> of buffers; waits while there is none.
    /// A request larger than the byte bound still goes when nothing else is in flight.</summary>
    public ValueTask AcquireAsync(int bytes)
    {
        lock (_lock)
        {
            if (Fits(bytes))
            {
                _count++;
                _bytes += bytes;
                return default;
            }

            _core.Reset();
            _wait = Wait.Room;
            _wantBytes = bytes;
        }

        return new ValueTask(this, _core.Version);
    }

    /// <summary>Completes when nothing is in flight.</summary>
    public ValueTask WhenIdleAsync()
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return default;
            }

            _core.Reset();
            _wait = Wait.Idle;
        }

        return new ValueTask(this, _core.Version);
    }

    public void Release(int bytes)
    {
        bool wake = false;
        lock (_lock)
        {
            _count--;
            _bytes -= bytes;
            if (_wait == Wait.Room && Fits(_wantBytes))
            {
                _count++;
                _bytes += _wantBytes;
                wake = true;
            }
            else if (_wait == Wait.Idle && _count == 0)
            {
                wake = true;
            }

            if (wake)
            {
                _wait = Wait.None;
            }
        }

        if (wake)
        {
            _core.SetResult(true);
        }
    }

    private bool Fits(int bytes) => _count < _maxCount && (_count == 0 || _bytes + bytes <= _maxBytes);

    public void GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
