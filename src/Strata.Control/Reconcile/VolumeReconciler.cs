using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// PersistentVolume → its replicas and its target. Makes the VolumeReplica records, replaces a replica whose node
/// stays away (<see cref="ReplicaReplacement"/>), says whether the volume serves and why not, reclaims it (Delete or
/// Retain) when its claim is gone, and removes it once its replicas are gone.
/// </summary>
public sealed class VolumeReconciler(TimeSpan replaceAfter) : IReconciler
{
    private readonly ReplicaReplacement _replacement = new(replaceAfter);

    public VolumeReconciler()
        : this(ReplicaReplacement.DefaultAfter)
    {
    }

    public async Task ReconcileAsync(ClusterView view, ReconcileContext context, CancellationToken ct)
    {
        foreach (var volume in view.Volumes)
        {
            var replicas = view.Replicas.Where(r => r.Spec.Volume == volume.Metadata.Name).ToList();
            if (volume.Metadata.DeletionTimestamp is not null)
            {
                await DeleteAsync(volume, replicas, context, ct).ConfigureAwait(false);
                continue;
            }

            if (await ReclaimAsync(view, volume, context, ct).ConfigureAwait(false))
            {
                continue;
            }

            var replaced = await _replacement.ReplaceAsync(view, volume, context, ct).ConfigureAwait(false);

            // A record of the same name still being deleted (a replica named again before its node finalized the old
            // one) is not taken for the new one: the new record is made once the old one is gone, never reusing data
            // its node was told to delete.
            foreach (var placement in volume.Spec.Replicas.Where(p => replicas.All(r => r.Metadata.Name != p.Name)))
            {
                var replica = new VolumeReplica
                {
                    Metadata = { Name = placement.Name, Labels = new() { ["openebs.io/persistent-volume"] = volume.Metadata.Name, ["cstorpool.openebs.io/name"] = placement.Pool } },
                    Spec = new VolumeReplicaSpec { Volume = volume.Metadata.Name, Pool = placement.Pool, Node = placement.Node, SizeBytes = volume.Spec.SizeBytes },
                    Status = new VolumeReplicaStatus { Phase = "Pending" },
                };
                if (await context.Resources.CreateAsync(replica, ct).ConfigureAwait(false))
                {
                    replicas.Add(replica);
                    view.Replicas.Add(replica);
                }
            }

            await MarkReplacedAsync(view, volume, replicas, replaced, context, ct).ConfigureAwait(false);

            // The volume's state is that of the replicas it names; one being deleted is not one of them.
            var named = replicas.Where(r => r.Metadata.DeletionTimestamp is null && volume.Spec.Replicas.Any(p => p.Name == r.Metadata.Name)).ToList();
            await UpdateStatusAsync(view, volume, named, context, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A replica the volume no longer names (it was replaced) is marked deleting, as a deleted volume's replicas are;
    /// its record is never deleted here. It stays, saying why, until its node (away when it was replaced) has deleted
    /// its data from its pool and finalizes it: a node deletes only what it is told to delete.
    /// </summary>
    private static async Task MarkReplacedAsync(ClusterView view, Volume volume, List<VolumeReplica> replicas, ReplicaReplacement.Replaced? replaced, ReconcileContext context, CancellationToken ct)
    {
        foreach (var old in replicas.Where(r => r.Metadata.DeletionTimestamp is null && volume.Spec.Replicas.All(p => p.Name != r.Metadata.Name)))
        {
            string node = old.Spec.Node;
            string why = replaced is { } r && r.Gone.Name == old.Metadata.Name
                ? $"replaced by {r.By.Name} on node {r.By.Node}"
                : $"no longer one of volume {volume.Metadata.Name}'s replicas (replaced)";
            string message = $"{why}; " + (view.IsReady(node) ? $"node {node} deletes it" : $"deleted when node {node} returns");
            old.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
            var conditions = old.Status.Conditions;
            Conditions.Set(ref conditions, "Deleting", true, "Replaced", message);
            old.Status.Conditions = conditions;
            if (await context.UpdateAsync(old, ct).ConfigureAwait(false))
            {
                context.Log($"volume {volume.Metadata.Name}: replica {old.Metadata.Name} (node {node}) {message}");
                await context.EventAsync(old, "Deleting", message, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>When the claim is gone: Delete starts deleting the volume, Retain keeps it as Released. True when the volume is no longer in use.</summary>
    private static async Task<bool> ReclaimAsync(ClusterView view, Volume volume, ReconcileContext context, CancellationToken ct)
    {
        var claimRef = volume.Spec.ClaimRef;
        bool claimed = claimRef is not null && view.Claims.Any(c => c.Metadata.Uid == claimRef.Uid);
        if (claimed)
        {
            return false;
        }

        if (volume.Spec.PersistentVolumeReclaimPolicy == "Retain")
        {
            if (volume.Status.Phase != "Released")
            {
                volume.Status.Phase = "Released";
                volume.Status.Message = $"its claim {claimRef?.Namespace}/{claimRef?.Name} was deleted; the data is kept (reclaim policy Retain)";
                if (await context.UpdateAsync(volume, ct).ConfigureAwait(false))
                {
                    await context.EventAsync(volume, "Released", volume.Status.Message, ct).ConfigureAwait(false);
                }
            }

            return true;
        }

        volume.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
        volume.Status.Message = $"its claim {claimRef?.Namespace}/{claimRef?.Name} was deleted; deleting the volume (reclaim policy Delete)";
        if (await context.UpdateAsync(volume, ct).ConfigureAwait(false))
        {
            context.Log($"volume {volume.Metadata.Name}: {volume.Status.Message}");
            await context.EventAsync(volume, "Deleting", volume.Status.Message, ct).ConfigureAwait(false);
        }

        return true;
    }

    private static async Task DeleteAsync(Volume volume, List<VolumeReplica> replicas, ReconcileContext context, CancellationToken ct)
    {
        if (replicas.Count == 0)
        {
            if (await context.Resources.DeleteAsync(volume, ct).ConfigureAwait(false))
            {
                await context.Events.DeleteAllAsync(volume, ct).ConfigureAwait(false);
                context.Log($"volume {volume.Metadata.Name} deleted");
            }

            return;
        }

        foreach (var replica in replicas.Where(r => r.Metadata.DeletionTimestamp is null))
        {
            replica.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
            await context.UpdateAsync(replica, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// When the target's node is NotReady and another Ready node holds an in-sync replica, the target moves there: that
    /// node's agent takes a new epoch (fencing the old target, should it come back) and serves the volume.
    /// </summary>
    private static async Task<bool> MoveTargetAsync(ClusterView view, Volume volume, List<VolumeReplica> replicas, ReconcileContext context, CancellationToken ct)
    {
        string from = volume.Spec.TargetNode ?? "";
        if (view.IsReady(from) || volume.Status.Phase == "Pending")
        {
            return false;
        }

        var inSync = volume.InSyncReplicas();
        var to = volume.Spec.Replicas.FirstOrDefault(p => p.Node != from && view.IsReady(p.Node) && inSync.Contains(p.Name)
            && replicas.Any(r => r.Metadata.Name == p.Name && r.Status.Phase is "Healthy" or "Rebuilding" or "Degraded"));
        if (to is null)
        {
            return false;
        }

        volume.Spec.TargetNode = to.Node;
        var conditions = volume.Status.Conditions;
        Conditions.Set(ref conditions, "TargetReady", false, "TargetMoving", $"target node {from} is NotReady; the target moves to node {to.Node}, which holds in-sync replica {to.Name}");
        volume.Status.Conditions = conditions;
        if (await context.UpdateAsync(volume, ct).ConfigureAwait(false))
        {
            context.Log($"volume {volume.Metadata.Name}: target moves from node {from} (NotReady) to node {to.Node}");
            await context.EventAsync(volume, "TargetMoved", $"target node {from} is NotReady: the target moves to node {to.Node} (in-sync replica {to.Name})", ct, warning: true).ConfigureAwait(false);
            return true;
        }

        return false;
    }

    private static async Task UpdateStatusAsync(ClusterView view, Volume volume, List<VolumeReplica> replicas, ReconcileContext context, CancellationToken ct)
    {
        if (await MoveTargetAsync(view, volume, replicas, context, ct).ConfigureAwait(false))
        {
            return;
        }

        var status = volume.Status;
        var conditions = status.Conditions;
        string targetNode = volume.Spec.TargetNode ?? "";
        bool nodeReady = view.IsReady(targetNode);
        bool changed = false;
        if (!nodeReady)
        {
            changed |= Conditions.Set(ref conditions, "TargetReady", false, "NodeNotReady", $"target node {targetNode} is NotReady: its agent stopped renewing its lease");
        }

        bool targetReady = Conditions.Find(conditions, "TargetReady")?.Status == "True";
        var inSync = volume.InSyncReplicas();
        var healthy = replicas.Where(r => r.Status.Phase == "Healthy" && inSync.Contains(r.Metadata.Name)).ToList();
        var notHealthy = replicas.Where(r => !healthy.Contains(r)).ToList();
        string state;
        string message;
        if (!nodeReady)
        {
            state = "Offline";
            message = $"target node {targetNode} is NotReady" + (volume.Spec.ReplicaCount > 1 ? " and no other Ready node holds an in-sync replica" : "");
        }
        else if (!targetReady)
        {
            state = "Pending";
            message = Conditions.Find(conditions, "TargetReady")?.Message is { } why ? $"waiting for the target on node {targetNode}: {why}" : $"waiting for the target on node {targetNode}";
        }
        else if (healthy.Count == 0)
        {
            state = "Offline";
            message = "no replica is in sync: " + Describe(notHealthy);
        }
        else if (notHealthy.Count > 0 || replicas.Count < volume.Spec.Replicas.Count)
        {
            state = "Degraded";
            message = $"{healthy.Count} of {volume.Spec.Replicas.Count} replicas in sync: " + Describe(notHealthy);
        }
        else
        {
            state = "Healthy";
            message = $"served at {status.TargetPortal} by node {targetNode}; {healthy.Count} replica(s) in sync";
        }

        changed |= Conditions.Remove(ref conditions, "Replicated");
        status.Conditions = conditions;
        if (status.State != state || status.Message != message)
        {
            if (status.State != state)
            {
                await context.EventAsync(volume, state, message, ct, warning: state is "Offline" or "Degraded").ConfigureAwait(false);
            }

            status.State = state;
            status.Message = message;
            changed = true;
        }

        if (status.Phase == "Pending" && state is "Healthy" or "Degraded")
        {
            status.Phase = "Bound";
            changed = true;
            context.Log($"volume {volume.Metadata.Name} is Bound, served at {status.TargetPortal}");
        }

        if (status.TargetPortal is { } portal && volume.Spec.Iscsi.TargetPortal != portal)
        {
            volume.Spec.Iscsi.TargetPortal = portal;
            changed = true;
        }

        if (changed)
        {
            await context.UpdateAsync(volume, ct).ConfigureAwait(false);
        }
    }

    private static string Describe(IEnumerable<VolumeReplica> replicas) =>
        string.Join(", ", replicas.Select(r => $"{r.Metadata.Name} is {r.Status.Phase} (node {r.Spec.Node})"));
}
