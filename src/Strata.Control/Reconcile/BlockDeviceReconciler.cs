using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// A block device's claim state follows the pools: Claimed while a pool's spec lists it (the pools are the truth,
/// so a device is never given to two pools), Unusable when its node says it is in use, else Unclaimed.
/// </summary>
public sealed class BlockDeviceReconciler : IReconciler
{
    public async Task ReconcileAsync(ClusterView view, ReconcileContext context, CancellationToken ct)
    {
        var claimedBy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pool in view.Pools)
        {
            foreach (string device in pool.Spec.BlockDevices)
            {
                claimedBy[device] = pool.Metadata.Name;
            }
        }

        foreach (var disk in view.BlockDevices)
        {
            string? pool = claimedBy.GetValueOrDefault(disk.Metadata.Name);
            string state = pool is not null ? "Claimed" : disk.Spec.Unusable is not null ? "Unusable" : "Unclaimed";
            string? reason = pool is not null ? $"pool {pool} is built on it" : disk.Spec.Unusable;
            if (disk.Status.ClaimState == state && disk.Status.ClaimedBy == pool && disk.Status.Reason == reason)
            {
                continue;
            }

            (disk.Status.ClaimState, disk.Status.ClaimedBy, disk.Status.Reason) = (state, pool, reason);
            await context.UpdateAsync(disk, ct).ConfigureAwait(false);
        }
    }
}
