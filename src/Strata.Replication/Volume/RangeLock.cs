namespace Strata.Replication.Volume;

/// <summary>
/// Keeps a rebuild's copy of a range and the writes to that range apart: a copy (exclusive) reads the range from an
/// in-sync replica and writes it to the one catching up, and a write landing on both in between would be undone by
/// the copy's older data. Writes hold their range shared. Outside rebuilds nothing is locked: writes only count
/// themselves, and <see cref="EnableAsync"/> waits for those counted ones to finish before any copy starts.
/// </summary>
internal sealed class RangeLock
{
    private readonly Lock _gate = new();
    private readonly List<Held> _held = [];
    private TaskCompletionSource _released = NewSignal();
    private long _nextId = 1;
    private int _bypassing;
    private volatile bool _enabled;

    /// <summary>Holds [<paramref name="lba"/>, +<paramref name="count"/>) for a write until the lease is released.</summary>
    public ValueTask<RangeLease> EnterSharedAsync(long lba, long count, CancellationToken ct)
    {
        if (!_enabled)
        {
            Interlocked.Increment(ref _bypassing);
            if (!_enabled)
            {
                return ValueTask.FromResult(new RangeLease(this, 0));
            }

            LeaveBypass();
        }

        return EnterAsync(lba, count, exclusive: false, ct);
    }

    /// <summary>Holds [<paramref name="lba"/>, +<paramref name="count"/>) alone (a copy); only while enabled.</summary>
    public ValueTask<RangeLease> EnterExclusiveAsync(long lba, long count, CancellationToken ct)
    {
        if (!_enabled)
        {
            throw new InvalidOperationException("the range lock is not enabled: call EnableAsync first");
        }

        return EnterAsync(lba, count, exclusive: true, ct);
    }

    /// <summary>From now on writes take the lock; returns once the writes that did not have drained.</summary>
    public async Task EnableAsync(CancellationToken ct)
    {
        _enabled = true;
        while (Volatile.Read(ref _bypassing) != 0)
        {
            Task released;
            lock (_gate)
            {
                if (Volatile.Read(ref _bypassing) == 0)
                {
                    break;
                }

                released = _released.Task;
            }

            await released.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Writes stop taking the lock (no copy may be held).</summary>
    public void Disable() => _enabled = false;

    internal void Release(long id)
    {
        if (id == 0)
        {
            if (Interlocked.Decrement(ref _bypassing) == 0 && _enabled)
            {
                Signal();
            }

            return;
        }

        lock (_gate)
        {
            for (int i = 0; i < _held.Count; i++)
            {
                if (_held[i].Id == id)
                {
                    _held.RemoveAt(i);
                    break;
                }
            }
        }

        Signal();
    }

    private void LeaveBypass() => Release(0);

    private async ValueTask<RangeLease> EnterAsync(long lba, long count, bool exclusive, CancellationToken ct)
    {
        long end = lba + count;
        while (true)
        {
            Task released;
            lock (_gate)
            {
                if (!Conflicts(lba, end, exclusive))
                {
                    long id = _nextId++;
                    _held.Add(new Held(id, lba, end, exclusive));
                    return new RangeLease(this, id);
                }

                released = _released.Task;
            }

            await released.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    private bool Conflicts(long lba, long end, bool exclusive)
    {
        foreach (var h in _held)
        {
            if (h.Lba < end && lba < h.End && (exclusive || h.Exclusive))
            {
                return true;
            }
        }

        return false;
    }

    private void Signal()
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            signal = _released;
            _released = NewSignal();
        }

        signal.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly record struct Held(long Id, long Lba, long End, bool Exclusive);
}

/// <summary>A range held in a <see cref="RangeLock"/>; dispose to release it.</summary>
internal readonly struct RangeLease(RangeLock owner, long id) : IDisposable
{
    public void Dispose() => owner?.Release(id);
}
