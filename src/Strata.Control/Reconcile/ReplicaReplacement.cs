using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// Replaces a volume's replica whose node has been NotReady for longer than <see cref="After"/> with a new one in a
/// pool of the same pool claim on a Ready node that holds none of the volume's replicas (docs/replication.md).
/// </summary>
/// <remarks>
/// The whole decision is one compare-and-swap of the volume record: the new replica takes the old one's place in
/// <c>spec.replicas</c> (which is also the promise of its pool's space) and the old one leaves <c>status.inSync</c>,
/// so the in-sync set always names replicas of the volume, and a control plane that dies mid-way has done all of it
/// or nothing. The rest is level-triggered and idempotent: the VolumeReconciler makes the new VolumeReplica and
/// marks the record of the one the volume no longer names deleting; the target's node adds and removes them (the new
/// one gets a full copy); the old replica's node, when it returns, deletes its data and finalizes the record (NodeAgent).
/// </remarks>
public sealed class ReplicaReplacement(TimeSpan after)
{
    /// <summary>A replacement written to the volume record: <see cref="Gone"/>'s place is now <see cref="By"/>'s.</summary>
    public sealed record Replaced(ReplicaPlacement Gone, ReplicaPlacement By);

    /// <summary>Longhorn's and cStor's practice is minutes: long enough for a reboot or a short outage to end.</summary>
    public static readonly TimeSpan DefaultAfter = TimeSpan.FromMinutes(5);

    /// <summary>How long a replica's node must be NotReady before the replica is replaced; zero or less: never.</summary>
    public TimeSpan After { get; } = after;

    /// <summary>Replaces at most one replica of <paramref name="volume"/>; what was replaced when the volume record was written, else null.</summary>
    public async Task<Replaced?> ReplaceAsync(ClusterView view, Volume volume, ReconcileContext context, CancellationToken ct)
    {
        // Only a volume that serves (Bound): a Pending one is still being made, a Released one is kept as it is.
        if (After <= TimeSpan.Zero || volume.Status.Phase != "Bound")
        {
            return null;
        }

        var inSync = volume.InSyncReplicas();
        for (int i = 0; i < volume.Spec.Replicas.Count; i++)
        {
            var gone = volume.Spec.Replicas[i];
            if (NotReadyFor(view, gone.Node) is not { } away || away < After || WhyKept(view, volume, gone, inSync) is not null)
            {
                continue;
            }

            string claim = view.Pools.FirstOrDefault(p => p.Metadata.Name == gone.Pool)?.Spec.Claim
                ?? view.StorageClasses.Where(s => s.Metadata.Name == volume.Spec.StorageClassName).Select(s => StorageClassParameters.Of(s).PoolClaim).FirstOrDefault()
                ?? "";
            var choice = Placement.ChooseReplacement(view, claim, volume);
            if (choice.Pools.Count == 0)
            {
                continue; // no Ready node with room: tried again every pass, and the replica may yet come back
            }

            var pool = choice.Pools[0];
            var replacement = new ReplicaPlacement { Name = Placement.ReplicaName(volume.Metadata.Name, pool.Metadata.Name), Pool = pool.Metadata.Name, Node = pool.Spec.Node };
            var inSyncBefore = volume.Status.InSync;
            volume.Spec.Replicas[i] = replacement;
            volume.Status.InSync = inSync.Where(n => n != gone.Name).ToList();
            var checkpointsBefore = volume.Status.RebuildCheckpoints;
            volume.Status.RebuildCheckpoints = checkpointsBefore?.Where(c => c.Key != gone.Name).ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal) is { Count: > 0 } kept ? kept : null;
            if (!await context.UpdateAsync(volume, ct).ConfigureAwait(false))
            {
                // Lost a race (a target changed the in-sync set, a report): nothing was written; the next pass decides again.
                volume.Spec.Replicas[i] = gone;
                volume.Status.InSync = inSyncBefore;
                volume.Status.RebuildCheckpoints = checkpointsBefore;
                return null;
            }

            string message = $"replica {gone.Name} on node {gone.Node}, NotReady for {Minutes(away)}, is replaced by {replacement.Name} on node {replacement.Node} " +
                $"(pool {replacement.Pool}), which gets a full copy";
            context.Log($"volume {volume.Metadata.Name}: {message}");
            await context.EventAsync(volume, "ReplicaReplaced", message, ct, warning: true).ConfigureAwait(false);
            return new Replaced(gone, replacement);
        }

        return null;
    }

    /// <summary>
    /// Why <paramref name="gone"/> must be kept even though its node is away, or null when it may be replaced.
    /// </summary>
    public static string? WhyKept(ClusterView view, Volume volume, ReplicaPlacement gone, IReadOnlyList<string> inSync)
    {
        var others = inSync.Where(n => n != gone.Name).ToList();
        if (others.Count == 0)
        {
            // The in-sync set is what a target trusts: if it names only this replica, its copy alone is known to hold
            // every acknowledged write. Forgetting it could lose them; the set must never be empty anyway.
            return "it is the only replica in sync";
        }

        if (inSync.Contains(gone.Name) && others.Count < volume.Spec.MinInSync)
        {
            // Every acknowledged write was promised to at least minInSync replicas; this one's copy is one of too few
            // that hold them. Its node may come back with them; a new replica would be copied from fewer than promised.
            return $"it is one of {inSync.Count} replicas in sync and the volume needs {volume.Spec.MinInSync}";
        }

        if (!volume.Spec.Replicas.Any(r => others.Contains(r.Name) && view.IsReady(r.Node)))
        {
            // The new replica is copied from an in-sync one, by a target on a Ready node: nothing to copy from now.
            return "no other in-sync replica is on a Ready node to copy from";
        }

        return null;
    }

    /// <summary>How long <paramref name="node"/> has been NotReady (its Ready condition False since), or null when Ready or unknown.</summary>
    private static TimeSpan? NotReadyFor(ClusterView view, string node)
    {
        if (view.IsReady(node))
        {
            return null;
        }

        var ready = Conditions.Find(view.Nodes.FirstOrDefault(n => n.Metadata.Name == node)?.Status.Conditions, "Ready");
        return ready is { Status: "False", LastTransitionTime: { } since } ? DateTimeOffset.UtcNow - since : null;
    }

    private static string Minutes(TimeSpan t) => t.TotalMinutes >= 1 ? $"{t.TotalMinutes:0.#} min" : $"{t.TotalSeconds:0} s";
}
