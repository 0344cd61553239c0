using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// PersistentVolumeClaim → PersistentVolume: places the replicas the StorageClass asks for and records the volume
/// (the promise of space is the PV itself, written before anything else); binds the claim once the volume serves.
/// One pass runs at a time, so no space is promised twice.
/// </summary>
public sealed class ProvisionReconciler : IReconciler
{
    public const string IqnPrefix = "iqn.2026-11.io.strata:";

    public async Task ReconcileAsync(ClusterView view, ReconcileContext context, CancellationToken ct)
    {
        foreach (var claim in view.Claims.OrderBy(c => c.Metadata.CreationTimestamp).ThenBy(c => c.QualifiedName, StringComparer.Ordinal))
        {
            var volume = view.Volumes.FirstOrDefault(v => v.Spec.ClaimRef?.Uid == claim.Metadata.Uid);
            if (volume is null && claim.Spec.VolumeName is null)
            {
                volume = await ProvisionAsync(view, claim, context, ct).ConfigureAwait(false);
            }

            await UpdateClaimAsync(claim, volume, context, ct).ConfigureAwait(false);
        }
    }

    private static async Task<Volume?> ProvisionAsync(ClusterView view, PersistentVolumeClaim claim, ReconcileContext context, CancellationToken ct)
    {
        string? problem = null;
        StorageClassParameters? parameters = null;
        var sc = view.StorageClasses.FirstOrDefault(s => s.Metadata.Name == claim.Spec.StorageClassName);
        long size = Quantity.TryParse(claim.Spec.Resources.Requests.GetValueOrDefault("storage") ?? "", out long bytes) ? bytes : 0;
        if (sc is null)
        {
            problem = $"storage class '{claim.Spec.StorageClassName}' does not exist";
        }
        else
        {
            parameters = StorageClassParameters.Of(sc);
            if (view.PoolClaims.All(p => p.Metadata.Name != parameters.PoolClaim))
            {
                problem = $"storage pool claim '{parameters.PoolClaim}' of storage class '{sc.Metadata.Name}' does not exist";
            }
        }

        Placement.Choice? choice = null;
        if (problem is null)
        {
            choice = Placement.Choose(view, parameters!.PoolClaim, parameters.ReplicaCount, size);
            problem = choice.Problem;
        }

        if (problem is not null)
        {
            // Pools that are only still being made (a claim applied with its pool claim) are a wait, not a failure.
            bool waiting = choice?.BeingMade == true;
            await SetPendingAsync(claim, waiting ? "WaitingForPools" : "ProvisioningFailed", problem, context, ct, warning: !waiting).ConfigureAwait(false);
            return null;
        }

        string name = $"pvc-{claim.Metadata.Uid}";
        var volume = new Volume
        {
            Metadata =
            {
                Name = name,
                Labels = new() { ["openebs.io/cas-type"] = "cstor", ["openebs.io/storageclass"] = sc!.Metadata.Name },
                Annotations = new() { ["pv.kubernetes.io/provisioned-by"] = sc.Provisioner, ["openebs.io/cas-type"] = "cstor" },
            },
            Spec = new VolumeSpec
            {
                Capacity = new() { ["storage"] = claim.Spec.Resources.Requests["storage"] },
                SizeBytes = size,
                AccessModes = [.. claim.Spec.AccessModes],
                PersistentVolumeReclaimPolicy = parameters!.ReclaimPolicy,
                StorageClassName = sc.Metadata.Name,
                VolumeMode = claim.Spec.VolumeMode ?? "Filesystem",
                ClaimRef = new ClaimReference { Namespace = claim.Metadata.Namespace ?? "default", Name = claim.Metadata.Name, Uid = claim.Metadata.Uid },
                ReplicaCount = parameters.ReplicaCount,
                MinInSync = VolumeSpec.DefaultMinInSync(parameters.ReplicaCount),
                Replicas = choice!.Pools.Select(p => new ReplicaPlacement { Name = Placement.ReplicaName(name, p.Metadata.Name), Pool = p.Metadata.Name, Node = p.Spec.Node }).ToList(),
                TargetNode = choice.Pools[0].Spec.Node,
                Iscsi = new IscsiSource { Iqn = IqnPrefix + name, Lun = 0, FsType = parameters.FsType },
            },
            Status = new VolumeStatus { Phase = "Pending", State = "Pending", Message = "replicas are being made", InSync = choice.Pools.Select(p => Placement.ReplicaName(name, p.Metadata.Name)).ToList() },
        };
        if (!await context.Resources.CreateAsync(volume, ct).ConfigureAwait(false))
        {
            context.Requeue = true;
            return null;
        }

        view.Volumes.Add(volume);
        string where = string.Join(", ", volume.Spec.Replicas.Select(r => $"{r.Pool} on {r.Node}"));
        context.Log($"pvc {claim.QualifiedName}: volume {name} placed on {where}");
        await context.EventAsync(claim, "Provisioning", $"volume {name} placed: {where}", ct).ConfigureAwait(false);
        return volume;
    }

    private static async Task SetPendingAsync(PersistentVolumeClaim claim, string reason, string message, ReconcileContext context, CancellationToken ct, bool warning = true)
    {
        var conditions = claim.Status.Conditions;
        bool changed = Conditions.Set(ref conditions, "Provisioned", false, reason, message);
        claim.Status.Conditions = conditions;
        if (claim.Status.Phase != "Pending")
        {
            claim.Status.Phase = "Pending";
            changed = true;
        }

        if (changed && await context.UpdateAsync(claim, ct).ConfigureAwait(false))
        {
            await context.EventAsync(claim, reason, message, ct, warning).ConfigureAwait(false);
        }
    }

    private static async Task UpdateClaimAsync(PersistentVolumeClaim claim, Volume? volume, ReconcileContext context, CancellationToken ct)
    {
        if (volume is null)
        {
            if (claim.Spec.VolumeName is not null && claim.Status.Phase != "Lost")
            {
                claim.Status.Phase = "Lost";
                var c = claim.Status.Conditions;
                Conditions.Set(ref c, "Provisioned", false, "VolumeLost", $"its volume {claim.Spec.VolumeName} no longer exists");
                claim.Status.Conditions = c;
                await context.UpdateAsync(claim, ct).ConfigureAwait(false);
            }

            return;
        }

        bool changed = false;
        if (claim.Spec.VolumeName != volume.Metadata.Name)
        {
            claim.Spec.VolumeName = volume.Metadata.Name;
            changed = true;
        }

        bool bound = volume.Status.Phase == "Bound";
        string phase = bound ? "Bound" : "Pending";
        var conditions = claim.Status.Conditions;
        changed |= Conditions.Set(ref conditions, "Provisioned", true, "VolumePlaced", $"volume {volume.Metadata.Name}");
        changed |= Conditions.Set(ref conditions, "Bound", bound, bound ? "VolumeServing" : "VolumeNotReady",
            bound ? $"bound to volume {volume.Metadata.Name}, served at {volume.Spec.Iscsi.TargetPortal}" : volume.Status.Message ?? "the volume is being made");
        claim.Status.Conditions = conditions;
        bool becameBound = false;
        if (claim.Status.Phase != phase && (bound || claim.Status.Phase != "Bound"))
        {
            becameBound = bound;
            claim.Status.Phase = phase;
            claim.Status.Capacity = bound ? new(volume.Spec.Capacity) : null;
            claim.Status.AccessModes = bound ? [.. volume.Spec.AccessModes] : null;
            changed = true;
        }

        if (changed && await context.UpdateAsync(claim, ct).ConfigureAwait(false) && becameBound)
        {
            await context.EventAsync(claim, "ProvisioningSucceeded", $"successfully provisioned volume {volume.Metadata.Name}", ct).ConfigureAwait(false);
        }
    }
}
