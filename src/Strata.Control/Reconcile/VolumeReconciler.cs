using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// PersistentVolume → its replicas and its target. Makes the VolumeReplica records, says whether the volume serves
/// and why not, reclaims it (Delete or Retain) when its claim is gone, and removes it once its replicas are gone.
/// </summary>
public sealed class VolumeReconciler : IReconciler
{
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

            await UpdateStatusAsync(view, volume, replicas, context, ct).ConfigureAwait(false);
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

    private static async Task UpdateStatusAsync(ClusterView view, Volume volume, List<VolumeReplica> replicas, ReconcileContext context, CancellationToken ct)
    {
        var status = volume.Status;
        var conditions = status.Conditions;
        string targetNode = volume.Spec.TargetNode ?? "";
        bool nodeReady = view.IsReady(targetNode);
        var first = replicas.FirstOrDefault(r => r.Metadata.Name == volume.Spec.Replicas.FirstOrDefault()?.Name);
        bool changed = false;
        if (!nodeReady)
        {
            changed |= Conditions.Set(ref conditions, "TargetReady", false, "NodeNotReady", $"target node {targetNode} is NotReady: its agent stopped renewing its lease");
        }

        bool targetReady = Conditions.Find(conditions, "TargetReady")?.Status == "True";
        int healthy = replicas.Count(r => r.Status.Phase == "Healthy");
        string state;
        string message;
        if (!nodeReady)
        {
            state = "Offline";
            message = $"target node {targetNode} is NotReady";
        }
        else if (first?.Status.Phase == "Offline")
        {
            state = "Offline";
            message = $"its served replica {first.Metadata.Name} is Offline (node {first.Spec.Node})";
        }
        else if (!targetReady || first?.Status.Phase != "Healthy")
        {
            state = "Pending";
            message = first?.Status.Phase != "Healthy" ? $"waiting for replica {volume.Spec.Replicas.FirstOrDefault()?.Name} on node {targetNode}" : $"waiting for the target on node {targetNode}";
        }
        else if (healthy < volume.Spec.Replicas.Count)
        {
            state = "Degraded";
            message = $"{healthy} of {volume.Spec.Replicas.Count} replicas Healthy: " + string.Join(", ", replicas.Where(r => r.Status.Phase != "Healthy").Select(r => $"{r.Metadata.Name} is {r.Status.Phase} (node {r.Spec.Node})"));
        }
        else
        {
            state = "Healthy";
            message = $"served at {status.TargetPortal} from replica {first.Metadata.Name} on node {targetNode}";
        }

        if (volume.Spec.ReplicaCount > 1)
        {
            changed |= Conditions.Set(ref conditions, "Replicated", false, "SingleReplicaServing",
                $"the target serves replica {volume.Spec.Replicas[0].Name} alone; the other {volume.Spec.ReplicaCount - 1} replica(s) are made but not kept in sync yet (synchronous replication is not live in this version)");
        }

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
}
