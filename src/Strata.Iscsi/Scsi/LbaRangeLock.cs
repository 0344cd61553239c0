using System.Numerics;

namespace Strata.Iscsi.Scsi;

/// <summary>
/// Serialises COMPARE AND WRITE (and other read-modify-write commands) against every other access to
/// overlapping LBAs (SBC-3 5.2: the compare and the write are one atomic operation). Reads and writes take the
/// range shared, read-modify-write commands take it exclusive. The LBA space is folded onto 64 stripes of
/// 2<sup>11</sup> blocks, so a range is a 64-bit mask and the uncontended path allocates nothing; folding can
/// only make unrelated ranges wait for each other, never let overlapping ones run together.
/// </summary>
internal sealed class LbaRangeLock
{
    private const int StripeShift = 11;
    private const int Stripes = 64;
    private readonly Lock _gate = new();
    private readonly int[] _shared = new int[Stripes];
    private readonly LinkedList<Waiter> _waiters = new();
    private ulong _exclusive;
    private ulong _exclusiveWaiting;

    public static ulong MaskOf(long lba, long blocks)
    {
        if (blocks <= 0)
        {
            blocks = 1;
        }

        long first = lba >> StripeShift;
        long last = (lba + blocks - 1) >> StripeShift;
        if (last - first + 1 >= Stripes)
        {
            return ulong.MaxValue;
        }

        ulong mask = 0;
        for (long s = first; s <= last; s++)
        {
            mask |= 1UL << (int)(s & (Stripes - 1));
        }

        return mask;
    }

    /// <summary>Takes the range shared; completes at once unless an exclusive holder or waiter overlaps.</summary>
    public ValueTask EnterSharedAsync(ulong mask, CancellationToken ct)
    {
        lock (_gate)
        {
            if ((mask & (_exclusive | _exclusiveWaiting)) == 0)
            {
                AddShared(mask, 1);
                return ValueTask.CompletedTask;
            }

            return Enqueue(mask, exclusive: false, ct);
        }
    }

    /// <summary>Takes the range shared if that needs no waiting.</summary>
    public bool TryEnterShared(ulong mask)
    {
        lock (_gate)
        {
            if ((mask & (_exclusive | _exclusiveWaiting)) != 0)
            {
                return false;
            }

            AddShared(mask, 1);
            return true;
        }
    }

    public void ExitShared(ulong mask)
    {
        lock (_gate)
        {
            AddShared(mask, -1);
            WakeWaiters();
        }
    }

    public ValueTask EnterExclusiveAsync(ulong mask, CancellationToken ct)
    {
        lock (_gate)
        {
            if (_waiters.Count == 0 && CanTakeExclusive(mask))
            {
                _exclusive |= mask;
                return ValueTask.CompletedTask;
            }

            _exclusiveWaiting |= mask;
            return Enqueue(mask, exclusive: true, ct);
        }
    }

    public void ExitExclusive(ulong mask)
    {
        lock (_gate)
        {
            _exclusive &= ~mask;
            WakeWaiters();
        }
    }

    private bool CanTakeExclusive(ulong mask)
    {
        if ((mask & _exclusive) != 0)
        {
            return false;
        }

        ulong m = mask;
        while (m != 0)
        {
            int s = BitOperations.TrailingZeroCount(m);
            if (_shared[s] != 0)
            {
                return false;
            }

            m &= m - 1;
        }

        return true;
    }

    private void AddShared(ulong mask, int delta)
    {
        ulong m = mask;
        while (m != 0)
        {
            _shared[BitOperations.TrailingZeroCount(m)] += delta;
            m &= m - 1;
        }
    }

    private ValueTask Enqueue(ulong mask, bool exclusive, CancellationToken ct)
    {
        var waiter = new Waiter(mask, exclusive);
        var node = _waiters.AddLast(waiter);
        if (ct.CanBeCanceled)
        {
            waiter.Registration = ct.Register(() => Cancel(node, ct));
        }

        return new ValueTask(waiter.Completion.Task);
    }

    private void Cancel(LinkedListNode<Waiter> node, CancellationToken ct)
    {
        lock (_gate)
        {
            if (node.List == null)
            {
                return;
            }

            _waiters.Remove(node);
            RecomputeExclusiveWaiting();
            WakeWaiters();
        }

        node.Value.Completion.TrySetCanceled(ct);
    }

    private void WakeWaiters()
    {
        // Grant in arrival order; a waiter that cannot run blocks later overlapping ones (no starvation).
        ulong blocked = 0;
        var node = _waiters.First;
        while (node != null)
        {
            var next = node.Next;
            var w = node.Value;
            bool granted = false;
            if ((w.Mask & blocked) == 0)
            {
                if (w.Exclusive && CanTakeExclusive(w.Mask))
                {
                    _exclusive |= w.Mask;
                    granted = true;
                }
                else if (!w.Exclusive && (w.Mask & _exclusive) == 0)
                {
                    AddShared(w.Mask, 1);
                    granted = true;
                }
            }

            if (granted)
            {
                _waiters.Remove(node);
                w.Registration.Dispose();
                w.Completion.TrySetResult();
            }
            else
            {
                blocked |= w.Mask;
            }

            node = next;
        }

        RecomputeExclusiveWaiting();
    }

    private void RecomputeExclusiveWaiting()
    {
        ulong waiting = 0;
        foreach (var w in _waiters)
        {
            if (w.Exclusive)
            {
                waiting |= w.Mask;
            }
        }

        _exclusiveWaiting = waiting;
    }

    private sealed class Waiter(ulong mask, bool exclusive)
    {
        public ulong Mask { get; } = mask;

        public bool Exclusive { get; } = exclusive;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }
    }
}
