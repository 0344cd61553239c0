using Strata.Control.Manifests;
using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>What a StorageClass asks of its volumes, from its <c>cas.openebs.io/config</c> annotation.</summary>
public sealed record StorageClassParameters(string PoolClaim, int ReplicaCount, string FsType, string ReclaimPolicy)
{
    public static StorageClassParameters Of(StorageClass sc)
    {
        var config = CasConfig.ForStorageClass(sc);
        return new StorageClassParameters(config.StoragePoolClaim, config.ReplicaCount, config.FsType, sc.ReclaimPolicy ?? "Delete");
    }
}
