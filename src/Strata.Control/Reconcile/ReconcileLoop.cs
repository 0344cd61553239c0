using Strata.Control.Store;
using Strata.State;

namespace Strata.Control.Reconcile;

/// <summary>
/// Level-triggered reconciling: one pass over a fresh <see cref="ClusterView"/> whenever a resource or node lease changes
/// (a store watch), and at least every <see cref="ResyncInterval"/>. Passes never overlap, which is what lets placement
/// promise space without races.
/// </summary>
public sealed class ReconcileLoop(IStore store, IReadOnlyList<IReconciler> reconcilers, Action<string> log)
{
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);

    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Passes run so far (tests and the bench wait on it).</summary>
    public long Passes { get; private set; }

    /// <param name="replaceAfter">How long a replica's node may be NotReady before the replica is replaced (default <see cref="ReplicaReplacement.DefaultAfter"/>; zero: never).</param>
    public static IReadOnlyList<IReconciler> Default(TimeSpan? replaceAfter = null) =>
        [new NodeHealthReconciler(), new PoolClaimReconciler(), new BlockDeviceReconciler(), new ProvisionReconciler(), new VolumeReconciler(replaceAfter ?? ReplicaReplacement.DefaultAfter)];

    public async Task RunAsync(CancellationToken ct)
    {
        var context = new ReconcileContext(new ResourceStore(store), new EventRecorder(store, "control-plane"), log);
        long watchFrom = 0;
        Task? watcher = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var view = await ClusterView.ReadAsync(store, ct).ConfigureAwait(false);
                if (watcher is null || watcher.IsCompleted)
                {
                    watchFrom = view.Revision + 1;
                    watcher = WatchAsync(watchFrom, ct);
                }

                context.Requeue = false;
                foreach (var reconciler in reconcilers)
                {
                    await reconciler.ReconcileAsync(view, context, ct).ConfigureAwait(false);
                }

                Passes++;
                if (context.Requeue)
                {
                    continue;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (StoreException e)
            {
                log($"reconcile: the store failed: {e.Message}; retrying");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A bug in one reconciler must not stop reconciling for good: say it loudly and try again next pass.
                log($"reconcile: pass failed: {e}");
            }

            try
            {
                await _wake.WaitAsync(ResyncInterval, ct).ConfigureAwait(false);
                while (_wake.CurrentCount > 0)
                {
                    await _wake.WaitAsync(ct).ConfigureAwait(false); // one pass covers every change so far
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Asks for a pass soon (an API write, a node report).</summary>
    public void Wake() => _wake.Release();

    private async Task WatchAsync(long from, CancellationToken ct)
    {
        try
        {
            await foreach (var e in store.WatchAsync("/strata/", from, ct).ConfigureAwait(false))
            {
                if (!e.Record.Key.StartsWith("/strata/events/", StringComparison.Ordinal))
                {
                    Wake();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (StoreException e)
        {
            log($"reconcile: watch ended ({e.Message}); listing again");
            Wake();
        }
    }
}
