namespace Strata.Pool.Concurrency;

/// <summary>
/// Holds a volume's I/O still while its map is shared or swapped (snapshot, revert): I/O enters and exits
/// without allocating; <see cref="FreezeAsync"/> stops new I/O and waits for the running I/O to finish.
/// </summary>
internal sealed class VolumeGate
{
    private readonly SemaphoreSlim _freezers = new(1, 1);
    private int _active;
    private TaskCompletionSource? _frozen;
    private TaskCompletionSource? _idle;

    /// <summary>Enters unless frozen; when frozen, the caller awaits <see cref="WaitThawedAsync"/> and tries again.</summary>
    public bool TryEnter()
    {
        Interlocked.Increment(ref _active);
        if (Volatile.Read(ref _frozen) is null)
        {
            return true;
        }

        Exit();
        return false;
    }

    public Task WaitThawedAsync() => Volatile.Read(ref _frozen)?.Task ?? Task.CompletedTask;

    public void Exit()
    {
        if (Interlocked.Decrement(ref _active) == 0 && Volatile.Read(ref _frozen) is not null)
        {
            Volatile.Read(ref _idle)?.TrySetResult();
        }
    }

    /// <summary>Stops new I/O and waits for the I/O in flight; dispose the result to let I/O go on.</summary>
    public async Task<IDisposable> FreezeAsync()
    {
        await _freezers.WaitAsync().ConfigureAwait(false);
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _idle, idle);
        Interlocked.Exchange(ref _frozen, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)); // a full fence before reading _active
        if (Volatile.Read(ref _active) != 0)
        {
            await idle.Task.ConfigureAwait(false);
        }

        return new Thaw(this);
    }

    private sealed class Thaw(VolumeGate gate) : IDisposable
    {
        public void Dispose()
        {
            var frozen = Interlocked.Exchange(ref gate._frozen, null);
            Volatile.Write(ref gate._idle, null);
            frozen?.TrySetResult();
            gate._freezers.Release();
        }
    }
}
