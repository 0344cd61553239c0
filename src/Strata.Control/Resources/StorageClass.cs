namespace Strata.Control.Resources;

/// <summary>
/// A Kubernetes StorageClass (storage.k8s.io/v1) as the seed writes it for cStor: the cas type and the
/// <c>cas.openebs.io/config</c> list (StoragePoolClaim, ReplicaCount) in its annotations.
/// </summary>
public sealed class StorageClass : Resource
{
    public override ResourceKind Descriptor => ResourceKind.StorageClass;

    public string Provisioner { get; set; } = "";

    public Dictionary<string, string>? Parameters { get; set; }

    /// <summary>Delete (the default) or Retain.</summary>
    public string? ReclaimPolicy { get; set; }

    public string? VolumeBindingMode { get; set; }

    public bool? AllowVolumeExpansion { get; set; }

    public List<string>? MountOptions { get; set; }
}
