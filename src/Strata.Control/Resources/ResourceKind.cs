namespace Strata.Control.Resources;

/// <summary>What the CLI and the API know about a kind: its names (the seed's short names among them) and where its records live.</summary>
public sealed record ResourceKind(string Kind, string Plural, string[] ShortNames, bool Namespaced, Type ClrType, string ApiVersion)
{
    public const string Prefix = "/strata/";

    /// <summary>The store key: /strata/&lt;plural&gt;/[&lt;namespace&gt;/]&lt;name&gt;.</summary>
    public string KeyOf(string? ns, string name) => Namespaced ? $"{Prefix}{Plural}/{ns ?? "default"}/{name}" : $"{Prefix}{Plural}/{name}";

    /// <summary>The prefix every record of this kind starts with.</summary>
    public string KeyPrefix => $"{Prefix}{Plural}/";

    public static readonly ResourceKind BlockDevice = new("BlockDevice", "blockdevices", ["bd", "blockdevice"], false, typeof(BlockDevice), "openebs.io/v1alpha1");
    public static readonly ResourceKind StoragePoolClaim = new("StoragePoolClaim", "storagepoolclaims", ["spc", "storagepoolclaim"], false, typeof(StoragePoolClaim), "openebs.io/v1alpha1");
    public static readonly ResourceKind StoragePool = new("CStorPool", "cstorpools", ["csp", "cstorpool", "storagepool", "storagepools", "pool", "pools"], false, typeof(StoragePool), "openebs.io/v1alpha1");
    public static readonly ResourceKind StorageClass = new("StorageClass", "storageclasses", ["sc", "storageclass"], false, typeof(StorageClass), "storage.k8s.io/v1");
    public static readonly ResourceKind PersistentVolumeClaim = new("PersistentVolumeClaim", "persistentvolumeclaims", ["pvc", "persistentvolumeclaim"], true, typeof(PersistentVolumeClaim), "v1");
    public static readonly ResourceKind Volume = new("PersistentVolume", "persistentvolumes", ["pv", "persistentvolume", "volume", "volumes"], false, typeof(Volume), "v1");
    public static readonly ResourceKind VolumeReplica = new("CStorVolumeReplica", "cstorvolumereplicas", ["cvr", "cstorvolumereplica", "volumereplica", "volumereplicas"], false, typeof(VolumeReplica), "openebs.io/v1alpha1");
    public static readonly ResourceKind Node = new("Node", "nodes", ["no", "node"], false, typeof(Node), "v1");

    public static IReadOnlyList<ResourceKind> All { get; } =
        [BlockDevice, StoragePoolClaim, StoragePool, StorageClass, PersistentVolumeClaim, Volume, VolumeReplica, Node];

    /// <summary>The kind a user means by <paramref name="name"/> (kind, plural or short name, any case), or null.</summary>
    public static ResourceKind? Find(string name)
    {
        string n = name.ToLowerInvariant();
        return All.FirstOrDefault(k => k.Kind.Equals(n, StringComparison.OrdinalIgnoreCase) || k.Plural == n || k.ShortNames.Contains(n));
    }
}
