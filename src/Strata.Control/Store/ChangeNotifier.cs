using Strata.State;

namespace Strata.Control.Store;

/// <summary>
/// One store watch on /strata/ shared by every long-poll of the API: waiters park until the store passes the revision
/// they have seen. Events are excluded (they change on every pass and nobody waits for them).
/// </summary>
public sealed class ChangeNotifier(IStore store, Action<string> log)
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _revision;

    public long Revision
    {
        get
        {
            lock (_lock)
            {
                return _revision;
            }
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var list = await store.ListAsync("/strata/leases/", ct).ConfigureAwait(false);
                Publish(list.Revision);
                await foreach (var e in store.WatchAsync("/strata/", list.Revision + 1, ct).ConfigureAwait(false))
                {
                    if (!e.Record.Key.StartsWith("/strata/events/", StringComparison.Ordinal))
                    {
                        Publish(e.Record.Revision);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (StoreException e)
            {
                log($"api: store watch ended ({e.Message}); watching again");
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Returns when a change newer than <paramref name="seen"/> is known, or after <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(long seen, TimeSpan timeout, CancellationToken ct)
    {
        Task changed;
        lock (_lock)
        {
            if (_revision > seen)
            {
                return;
            }

            changed = _changed.Task;
        }

        await Task.WhenAny(changed, Task.Delay(timeout, ct)).ConfigureAwait(false);
    }

    private void Publish(long revision)
    {
        TaskCompletionSource fire;
        lock (_lock)
        {
            if (revision <= _revision)
            {
                return;
            }

            _revision = revision;
            fire = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        fire.TrySetResult();
    }
}
