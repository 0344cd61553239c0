namespace Strata.Blocks;

/// <summary>
/// Waits for every I/O that started before a moment to finish: each I/O registers in the current epoch;
/// <see cref="DrainAsync"/> opens a new epoch and waits until the old one has no I/O left (a grace period, as in
/// RCU). Two counters, no allocation per I/O. A pool lets a freed chunk be reused only after every I/O that could
/// still touch it has finished; a replicated volume settles its replicas' write-intent regions only after every change
/// sent before the flush has reached every replica.
/// </summary>
public sealed class IoEpoch
{
    private readonly int[] _active = new int[2];
    private int _current;
    private TaskCompletionSource? _drained;

    /// <summary>Registers an I/O; pass the result to <see cref="Exit"/>.</summary>
    public int Enter()
    {
        while (true)
        {
            int e = Volatile.Read(ref _current);
            Interlocked.Increment(ref _active[e]);
            if (Volatile.Read(ref _current) == e)
            {
                return e;
            }

            Exit(e); // the epoch turned meanwhile: register in the new one, so a drainer cannot miss us
        }
    }

    public void Exit(int epoch)
    {
        if (Interlocked.Decrement(ref _active[epoch]) == 0 && epoch != Volatile.Read(ref _current))
        {
            Volatile.Read(ref _drained)?.TrySetResult();
        }
    }

    /// <summary>Waits until every I/O that entered before this call has exited. Callers are serialized.</summary>
    public async ValueTask DrainAsync()
    {
        int old = Volatile.Read(ref _current);
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _drained, tcs);
        Interlocked.Exchange(ref _current, 1 - old);
        if (Volatile.Read(ref _active[old]) != 0)
        {
            await tcs.Task.ConfigureAwait(false);
        }

        Volatile.Write(ref _drained, null);
    }
}
