using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// Chooses the pools a volume's replicas go to: one per node, each Healthy on a Ready node with room for the whole
/// volume (capacity minus what earlier volumes were promised), the roomiest first so volumes spread over the pools.
/// </summary>
public static class Placement
{
    /// <summary>The pools chosen, or why there are not enough; <see cref="BeingMade"/> when every pool missing is only still being made (a wait, not a fault).</summary>
    public sealed record Choice(IReadOnlyList<StoragePool> Pools, string? Problem, bool BeingMade = false);

    /// <summary>
    /// Bytes of <paramref name="pool"/> promised to volumes placed on it (deleted ones included until they are gone),
    /// and to replicas replaced away from it whose data its node has not deleted yet (their records, being deleted,
    /// are still there). A replica counts once, whether its volume or only its record names the pool.
    /// </summary>
    public static long Promised(ClusterView view, string pool) =>
        view.Volumes.Where(v => v.Spec.Replicas.Any(r => r.Pool == pool)).Sum(v => v.Spec.SizeBytes)
        + view.Replicas.Where(r => r.Spec.Pool == pool && r.Metadata.DeletionTimestamp is not null
            && !view.Volumes.Any(v => v.Metadata.Name == r.Spec.Volume && v.Spec.Replicas.Any(p => p.Pool == pool))).Sum(r => r.Spec.SizeBytes);

    public static Choice Choose(ClusterView view, string claim, int replicas, long sizeBytes) =>
        ChooseAmong(view, claim, replicas, sizeBytes, _ => true);

    /// <summary>
    /// One pool for a replica that takes the place of one of <paramref name="volume"/>'s: chosen as
    /// <see cref="Choose"/> does, on a node that holds none of the volume's replicas, nor a record of one still being
    /// deleted (a replica replaced earlier whose node has not deleted it yet: a node hosts one replica of a volume).
    /// </summary>
    public static Choice ChooseReplacement(ClusterView view, string claim, Volume volume) =>
        ChooseAmong(view, claim, 1, volume.Spec.SizeBytes, pool => volume.Spec.Replicas.All(r => r.Node != pool.Spec.Node)
            && view.Replicas.All(r => r.Metadata.Name != ReplicaName(volume.Metadata.Name, pool.Metadata.Name)
                && (r.Spec.Volume != volume.Metadata.Name || r.Spec.Node != pool.Spec.Node)));

    /// <summary>The name of a volume's replica in a pool.</summary>
    public static string ReplicaName(string volume, string pool) => $"{volume}-{pool}";

    private static Choice ChooseAmong(ClusterView view, string claim, int replicas, long sizeBytes, Func<StoragePool, bool> allowed)
    {
        if (view.PoolClaims.FirstOrDefault(c => c.Metadata.Name == claim) is { Metadata.DeletionTimestamp: not null })
        {
            return new Choice([], $"storage pool claim {claim} is being deleted");
        }

        var reasons = new List<string>();
        bool onlyBeingMade = true;
        var usable = new List<(StoragePool Pool, long Room)>();
        foreach (var pool in view.Pools.Where(p => p.Spec.Claim == claim && allowed(p)).OrderBy(p => p.Metadata.Name, StringComparer.Ordinal))
        {
            string name = pool.Metadata.Name;
            long room = pool.Status.CapacityBytes - Promised(view, name);
            if (pool.Metadata.DeletionTimestamp is not null)
            {
                reasons.Add($"{name} is being deleted");
                onlyBeingMade = false;
            }
            else if (!view.IsReady(pool.Spec.Node))
            {
                reasons.Add($"{name}'s node {pool.Spec.Node} is NotReady");
                onlyBeingMade = false;
            }
            else if (pool.Status.Phase != "Healthy")
            {
                reasons.Add($"{name} is {pool.Status.Phase ?? "Pending"}");
                onlyBeingMade &= pool.Status.Phase is null or "Pending";
            }
            else if (!pool.Spec.OverProvisioning && room < sizeBytes)
            {
                reasons.Add($"{name} has {Quantity.Format(Math.Max(0, room))} unpromised");
                onlyBeingMade = false;
            }
            else
            {
                usable.Add((pool, pool.Spec.OverProvisioning ? pool.Status.FreeBytes : room));
            }
        }

        var perNode = usable
            .GroupBy(u => u.Pool.Spec.Node, StringComparer.Ordinal)
            .Select(g => g.OrderByDescending(u => u.Room).ThenBy(u => u.Pool.Metadata.Name, StringComparer.Ordinal).First())
            .OrderByDescending(u => u.Room)
            .ThenBy(u => view.Volumes.Count(v => v.Spec.Replicas.Any(r => r.Pool == u.Pool.Metadata.Name)))
            .ThenBy(u => u.Pool.Metadata.Name, StringComparer.Ordinal)
            .ToList();
        if (perNode.Count >= replicas)
        {
            return new Choice(perNode.Take(replicas).Select(u => u.Pool).ToList(), null);
        }

        string problem = $"needs {replicas} pool{(replicas == 1 ? "" : "s")} of {claim} on distinct nodes with {Quantity.Format(sizeBytes)} free, {perNode.Count} {(perNode.Count == 1 ? "is" : "are")} available";
        if (reasons.Count > 0)
        {
            problem += $" ({string.Join("; ", reasons)})";
        }

        return new Choice([], problem, BeingMade: onlyBeingMade && reasons.Count > 0);
    }
}
