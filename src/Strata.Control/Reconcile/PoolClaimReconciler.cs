using System.Security.Cryptography;
using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// StoragePoolClaim → pools: one pool per node, on up to maxPools Ready nodes (sparse files), or on the nodes holding
/// the listed block devices (disk). A claim being deleted has its pools deleted; it goes when they are gone.
/// </summary>
public sealed class PoolClaimReconciler : IReconciler
{
    public async Task ReconcileAsync(ClusterView view, ReconcileContext context, CancellationToken ct)
    {
        foreach (var claim in view.PoolClaims)
        {
            var pools = view.Pools.Where(p => p.Spec.Claim == claim.Metadata.Name).ToList();
            if (claim.Metadata.DeletionTimestamp is not null)
            {
                await DeleteAsync(view, claim, pools, context, ct).ConfigureAwait(false);
                continue;
            }

            var wanted = Plan(view, claim, pools);
            int made = 0;
            foreach (var (node, devices) in wanted)
            {
                var pool = new StoragePool
                {
                    Metadata = { Name = $"{claim.Metadata.Name}-{Suffix()}", Labels = new() { ["openebs.io/storage-pool-claim"] = claim.Metadata.Name, ["kubernetes.io/hostname"] = node } },
                    Spec = new StoragePoolSpec
                    {
                        Claim = claim.Metadata.Name,
                        Node = node,
                        Type = claim.Spec.Type,
                        PoolType = claim.Spec.PoolSpec.PoolType,
                        Devices = devices.Select(d => d.Spec.Path).ToList(),
                        BlockDevices = devices.Select(d => d.Metadata.Name).ToList(),
                        OverProvisioning = claim.Spec.PoolSpec.OverProvisioning ?? false,
                    },
                    Status = new StoragePoolStatus { Phase = "Pending" },
                };
                if (await context.Resources.CreateAsync(pool, ct).ConfigureAwait(false))
                {
                    pools.Add(pool);
                    view.Pools.Add(pool);
                    made++;
                    string message = $"Provisioning pool {pools.Count}/{Target(view, claim)} for storagepoolclaim {claim.Metadata.Name}: {pool.Metadata.Name} on node {node}";
                    context.Log(message);
                    await context.EventAsync(claim, "Provisioning", message, ct).ConfigureAwait(false);
                }
            }

            await UpdateStatusAsync(view, claim, pools, context, ct).ConfigureAwait(false);
        }
    }

    /// <summary>How many pools the claim asks for.</summary>
    internal static int Target(ClusterView view, StoragePoolClaim claim)
    {
        if (claim.Spec.MaxPools is { } max)
        {
            return max;
        }

        var listed = ListedDevices(claim);
        return view.BlockDevices.Where(d => listed.Contains(d.Metadata.Name)).Select(d => d.Spec.Node).Distinct().Count();
    }

    internal static HashSet<string> ListedDevices(StoragePoolClaim claim) =>
        [.. claim.Spec.BlockDevices?.BlockDeviceList ?? [], .. claim.Spec.Disks?.DiskList ?? []];

    /// <summary>The nodes (and for disk claims, the devices) for the pools still to make.</summary>
    private static List<(string Node, List<BlockDevice> Devices)> Plan(ClusterView view, StoragePoolClaim claim, List<StoragePool> pools)
    {
        int missing = Target(view, claim) - pools.Count;
        var result = new List<(string, List<BlockDevice>)>();
        if (missing <= 0)
        {
            return result;
        }

        var used = pools.Select(p => p.Spec.Node).ToHashSet(StringComparer.Ordinal);
        foreach (var node in view.ReadyNodes.Select(n => n.Metadata.Name).Where(n => !used.Contains(n)))
        {
            if (result.Count == missing)
            {
                break;
            }

            if (claim.Spec.Type == "sparse")
            {
                result.Add((node, []));
                continue;
            }

            var listed = ListedDevices(claim);
            var taken = view.Pools.SelectMany(p => p.Spec.BlockDevices).ToHashSet(StringComparer.Ordinal);
            var devices = view.BlockDevices
                .Where(d => d.Spec.Node == node && d.Status.State == "Active" && d.Spec.Unusable is null && !taken.Contains(d.Metadata.Name)
                    && (listed.Count == 0 || listed.Contains(d.Metadata.Name)))
                .OrderBy(d => d.Metadata.Name, StringComparer.Ordinal)
                .ToList();
            if (claim.Spec.PoolSpec.PoolType == "mirrored")
            {
                devices = devices.Take(devices.Count / 2 * 2).ToList();
            }

            if (devices.Count > 0)
            {
                result.Add((node, devices));
            }
        }

        return result;
    }

    private static async Task UpdateStatusAsync(ClusterView view, StoragePoolClaim claim, List<StoragePool> pools, ReconcileContext context, CancellationToken ct)
    {
        int target = Target(view, claim);
        int healthy = pools.Count(p => p.Status.Phase == "Healthy");
        bool online = pools.Count >= target && target > 0;
        string message = online
            ? $"{pools.Count} of {target} pools made ({healthy} Healthy)"
            : claim.Spec.Type == "sparse"
                ? $"{pools.Count} of {target} pools made: needs {target} Ready nodes without a pool of this claim, {view.ReadyNodes.Count()} nodes are Ready"
                : $"{pools.Count} of {target} pools made: no more Ready nodes hold unclaimed listed block devices";
        var conditions = claim.Status.Conditions;
        bool changed = Conditions.Set(ref conditions, "PoolsProvisioned", online, online ? "AllPoolsMade" : "WaitingForNodes", message);
        claim.Status.Conditions = conditions;
        string phase = online ? "Online" : "Pending";
        if (claim.Status.Phase != phase)
        {
            claim.Status.Phase = phase;
            changed = true;
        }

        if (changed)
        {
            await context.UpdateAsync(claim, ct).ConfigureAwait(false);
        }
    }

    private static async Task DeleteAsync(ClusterView view, StoragePoolClaim claim, List<StoragePool> pools, ReconcileContext context, CancellationToken ct)
    {
        if (pools.Count == 0)
        {
            if (await context.Resources.DeleteAsync(claim, ct).ConfigureAwait(false))
            {
                await context.Events.DeleteAllAsync(claim, ct).ConfigureAwait(false);
                context.Log($"storagepoolclaim {claim.Metadata.Name} deleted");
            }

            return;
        }

        foreach (var pool in pools.Where(p => p.Metadata.DeletionTimestamp is null))
        {
            if (view.Replicas.Any(r => r.Spec.Pool == pool.Metadata.Name))
            {
                continue; // delete refuses a claim whose pools hold volumes; one placed since waits for its volume to go
            }

            pool.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
            if (await context.UpdateAsync(pool, ct).ConfigureAwait(false))
            {
                await context.EventAsync(claim, "DeletingPool", $"deleting pool {pool.Metadata.Name} on node {pool.Spec.Node}", ct).ConfigureAwait(false);
            }
        }
    }

    private static string Suffix()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(4, 0, (span, _) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
            }
        });
    }
}
