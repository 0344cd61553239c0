using System.Text.RegularExpressions;
using Strata.Control.Resources;

namespace Strata.Control.Manifests;

/// <summary>
/// The structural rules of what a user may apply, kind by kind, with no knowledge of the cluster (whether the
/// StoragePoolClaim a StorageClass names exists is the control plane's to say). Problems are
/// <see cref="ManifestException"/>s naming the resource and the field.
/// </summary>
public static partial class ManifestValidator
{
    /// <summary>The provisioners a StorageClass may name: the seed's, and Strata's own.</summary>
    public static IReadOnlyList<string> Provisioners { get; } = ["openebs.io/provisioner-iscsi", "strata.io/iscsi"];

    public static IReadOnlyList<string> PoolClaimTypes { get; } = ["sparse", "disk"];

    public static IReadOnlyList<string> PoolTypes { get; } = ["striped", "mirrored"];

    public static IReadOnlyList<string> ReclaimPolicies { get; } = ["Delete", "Retain"];

    public static IReadOnlyList<string> AccessModes { get; } = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"];

    /// <summary>The access modes a volume can have: an iSCSI LUN with ext4 on it is mounted by one node at a time.</summary>
    public static IReadOnlyList<string> SupportedAccessModes { get; } = ["ReadWriteOnce", "ReadWriteOncePod"];

    public static IReadOnlyList<string> VolumeModes { get; } = ["Filesystem", "Block"];

    public const string CasTypeAnnotation = "openebs.io/cas-type";

    internal const string NameRule = "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";

    private const string LabelRule = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex Subdomain();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Label();

    [GeneratedRegex(@"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$", RegexOptions.CultureInvariant)]
    private static partial Regex QualifiedNamePart();

    /// <summary>A DNS-1123 subdomain: what resource names must be.</summary>
    public static bool IsDns1123Subdomain(string? name) => name is { Length: > 0 and <= 253 } && Subdomain().IsMatch(name);

    /// <summary>A DNS-1123 label: what namespaces must be.</summary>
    public static bool IsDns1123Label(string? name) => name is { Length: > 0 and <= 63 } && Label().IsMatch(name);

    /// <summary>
    /// Checks <paramref name="resource"/> as something a user applies; throws a <see cref="ManifestException"/> (with the
    /// kind and name filled in) at the first problem. Kinds the control plane makes (CStorPool, PersistentVolume,
    /// CStorVolumeReplica, BlockDevice, Node) cannot be applied.
    /// </summary>
    public static void Validate(Resource resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        try
        {
            if (resource is not (StoragePoolClaim or StorageClass or PersistentVolumeClaim))
            {
                throw new ManifestException(null, MadeByControlPlane(resource.Descriptor));
            }
            CheckMetadata(resource);
            switch (resource)
            {
                case StoragePoolClaim claim:
                    CheckPoolClaim(claim);
                    break;
                case StorageClass storageClass:
                    CheckStorageClass(storageClass);
                    break;
                case PersistentVolumeClaim pvc:
                    CheckVolumeClaim(pvc);
                    break;
            }
        }
        catch (ManifestException e)
        {
            throw e.At(kind: resource.Descriptor.Kind, name: resource.Metadata.Name);
        }
    }

    private static string MadeByControlPlane(ResourceKind kind) =>
        kind == ResourceKind.StoragePool ? $"{kind.Kind} is made by the control plane; apply a StoragePoolClaim instead"
        : kind == ResourceKind.Volume || kind == ResourceKind.VolumeReplica ? $"{kind.Kind} is made by the control plane; apply a PersistentVolumeClaim instead"
        : kind == ResourceKind.BlockDevice ? $"{kind.Kind} is made by the control plane (node agents report the disks they find); name it in a StoragePoolClaim instead"
        : kind == ResourceKind.Node ? $"{kind.Kind} is made by the control plane (a node agent registers its node when it starts)"
        : $"{kind.Kind} is made by the control plane; apply a StoragePoolClaim/PersistentVolumeClaim instead";

    private static void CheckMetadata(Resource resource)
    {
        var meta = resource.Metadata;
        if (string.IsNullOrEmpty(meta.Name))
        {
            throw new ManifestException("metadata.name", "is required");
        }
        if (meta.Name.Length > 253)
        {
            throw new ManifestException("metadata.name", $"'{meta.Name}' is not a valid name: it is {meta.Name.Length} characters long, and a name is at most 253");
        }
        if (!IsDns1123Subdomain(meta.Name))
        {
            throw new ManifestException("metadata.name", $"'{meta.Name}' is not a valid name ({NameRule})");
        }
        if (meta.Namespace is { } ns && !IsDns1123Label(ns))
        {
            throw new ManifestException("metadata.namespace", $"'{ns}' is not a valid namespace ({LabelRule})");
        }
        foreach (var (key, value) in meta.Labels ?? [])
        {
            CheckQualifiedKey("metadata.labels", key);
            if (value.Length > 63 || !QualifiedNamePart().IsMatch(value))
            {
                throw new ManifestException($"metadata.labels[{key}]", $"'{value}' is not a valid label value (letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 characters)");
            }
        }
        foreach (var (key, _) in meta.Annotations ?? [])
        {
            CheckQualifiedKey("metadata.annotations", key);
        }
    }

    /// <summary>A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters.</summary>
    private static void CheckQualifiedKey(string field, string key)
    {
        int slash = key.IndexOf('/', StringComparison.Ordinal);
        string prefix = slash < 0 ? "" : key[..slash], name = slash < 0 ? key : key[(slash + 1)..];
        if ((slash >= 0 && !IsDns1123Subdomain(prefix)) || name.Length is 0 or > 63 || !QualifiedNamePart().IsMatch(name))
        {
            throw new ManifestException(field, $"'{key}' is not a valid key (an optional DNS prefix and '/', then letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 characters)");
        }
    }

    private static string OneOf(IEnumerable<string> values) => string.Join(", ", values);

    private static void CheckPoolClaim(StoragePoolClaim claim)
    {
        var spec = claim.Spec;
        if (spec.Name is { } specName && specName != claim.Metadata.Name)
        {
            throw new ManifestException("spec.name", $"'{specName}' must be the same as metadata.name '{claim.Metadata.Name}'");
        }
        if (string.IsNullOrEmpty(spec.Type))
        {
            throw new ManifestException("spec.type", $"is required ({string.Join(" or ", PoolClaimTypes)})");
        }
        if (!PoolClaimTypes.Contains(spec.Type))
        {
            throw new ManifestException("spec.type", $"'{spec.Type}' is not a pool type ({string.Join(" or ", PoolClaimTypes)})");
        }
        if (spec.MaxPools is < 1)
        {
            throw new ManifestException("spec.maxPools", $"{spec.MaxPools} must be at least 1");
        }
        if (spec.MinPools is < 1)
        {
            throw new ManifestException("spec.minPools", $"{spec.MinPools} must be at least 1");
        }
        if (spec.MinPools is int min && spec.MaxPools is int max && min > max)
        {
            throw new ManifestException("spec.minPools", $"{min} is more than spec.maxPools ({max})");
        }
        if (string.IsNullOrEmpty(spec.PoolSpec.PoolType))
        {
            throw new ManifestException("spec.poolSpec.poolType", $"is required ({string.Join(" or ", PoolTypes)})");
        }
        if (!PoolTypes.Contains(spec.PoolSpec.PoolType))
        {
            throw new ManifestException("spec.poolSpec.poolType", $"'{spec.PoolSpec.PoolType}' is not a pool layout ({string.Join(" or ", PoolTypes)})");
        }

        var (listPath, devices) = spec.BlockDevices is { } bd ? ("spec.blockDevices.blockDeviceList", bd.BlockDeviceList)
            : spec.Disks is { } disks ? ("spec.disks.diskList", disks.DiskList)
            : ((string?)null, (List<string>?)null);
        if (spec.BlockDevices is not null && spec.Disks is not null)
        {
            throw new ManifestException("spec.disks", "give spec.blockDevices or spec.disks, not both");
        }
        if (spec.Type == "sparse")
        {
            if (spec.MaxPools is null)
            {
                throw new ManifestException("spec.maxPools", "is required for a sparse pool claim: how many nodes get a pool");
            }
            if (listPath is not null)
            {
                throw ManifestException.AboutField(listPath, $"{listPath} is for disk pools; a sparse pool claim makes its own files");
            }
        }
        else
        {
            if (devices is null || devices.Count == 0)
            {
                if (spec.MaxPools is null)
                {
                    throw new ManifestException(listPath ?? "spec.blockDevices.blockDeviceList", "a disk pool claim needs the BlockDevices to use (spec.blockDevices.blockDeviceList) or spec.maxPools");
                }
            }
            else
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < devices.Count; i++)
                {
                    if (!IsDns1123Subdomain(devices[i]))
                    {
                        throw new ManifestException($"{listPath}[{i}]", $"'{devices[i]}' is not a valid BlockDevice name ({NameRule})");
                    }
                    if (!seen.Add(devices[i]))
                    {
                        throw new ManifestException($"{listPath}[{i}]", $"'{devices[i]}' is listed twice");
                    }
                }
            }
        }
        CasConfig.Of(claim).CheckNames(CasConfig.StoragePoolClaimNames);
    }

    private static void CheckStorageClass(StorageClass sc)
    {
        if (string.IsNullOrEmpty(sc.Provisioner))
        {
            throw new ManifestException("provisioner", $"is required ({OneOf(Provisioners)})");
        }
        if (!Provisioners.Contains(sc.Provisioner))
        {
            throw new ManifestException("provisioner", $"'{sc.Provisioner}' is not one Strata serves ({OneOf(Provisioners)})");
        }
        if (sc.Metadata.Annotations?.GetValueOrDefault(CasTypeAnnotation) is { } casType && casType != "cstor")
        {
            throw new ManifestException($"metadata.annotations[{CasTypeAnnotation}]", $"'{casType}' is not supported (only cstor)");
        }
        if (sc.Metadata.Annotations?.ContainsKey(CasConfig.AnnotationKey) != true)
        {
            throw new ManifestException(CasConfig.FieldPath, "is required: it names the StoragePoolClaim whose pools hold the volumes (- name: StoragePoolClaim / value: \"cstor-pool\")");
        }
        CasConfig.ForStorageClass(sc);
        if (sc.Parameters is { Count: > 0 } parameters)
        {
            throw new ManifestException($"parameters.{parameters.Keys.First()}", $"{sc.Provisioner} takes no parameters; give settings in the {CasConfig.AnnotationKey} annotation");
        }
        if (sc.ReclaimPolicy is { } policy && !ReclaimPolicies.Contains(policy))
        {
            throw new ManifestException("reclaimPolicy", $"'{policy}' is not a reclaim policy ({OneOf(ReclaimPolicies)})");
        }
        if (sc.VolumeBindingMode is { } binding && binding != "Immediate")
        {
            throw new ManifestException("volumeBindingMode", binding == "WaitForFirstConsumer"
                ? "WaitForFirstConsumer is not supported: volumes are made when their claim is applied (Immediate)"
                : $"'{binding}' is not a binding mode (Immediate)");
        }
    }

    private static void CheckVolumeClaim(PersistentVolumeClaim pvc)
    {
        var spec = pvc.Spec;
        if (spec.AccessModes.Count == 0)
        {
            throw new ManifestException("spec.accessModes", "is required (ReadWriteOnce)");
        }
        for (int i = 0; i < spec.AccessModes.Count; i++)
        {
            string mode = spec.AccessModes[i];
            if (!AccessModes.Contains(mode))
            {
                throw new ManifestException($"spec.accessModes[{i}]", $"'{mode}' is not an access mode ({OneOf(AccessModes)})");
            }
            if (!SupportedAccessModes.Contains(mode))
            {
                throw new ManifestException($"spec.accessModes[{i}]", $"{mode} is not supported: a volume is an iSCSI LUN with a filesystem on it, which one node at a time may mount (use ReadWriteOnce)");
            }
        }
        string? storage = spec.Resources.Requests.GetValueOrDefault("storage");
        foreach (var key in spec.Resources.Requests.Keys.Concat(spec.Resources.Limits?.Keys ?? Enumerable.Empty<string>()))
        {
            if (key != "storage")
            {
                string where = spec.Resources.Requests.ContainsKey(key) ? "requests" : "limits";
                throw new ManifestException($"spec.resources.{where}.{key}", "only storage can be requested for a volume");
            }
        }
        if (storage is null)
        {
            throw new ManifestException("spec.resources.requests.storage", "is required: the volume's size (1Gi)");
        }
        long bytes = Quantity.Parse(storage, "spec.resources.requests.storage");
        if (bytes <= 0)
        {
            throw new ManifestException("spec.resources.requests.storage", $"'{storage}' must be more than 0");
        }
        if (spec.Resources.Limits?.GetValueOrDefault("storage") is { } limit && Quantity.Parse(limit, "spec.resources.limits.storage") < bytes)
        {
            throw new ManifestException("spec.resources.limits.storage", $"'{limit}' is less than the requested {storage}");
        }
        if (string.IsNullOrEmpty(spec.StorageClassName))
        {
            throw new ManifestException("spec.storageClassName", "is required (there is no default StorageClass)");
        }
        if (!IsDns1123Subdomain(spec.StorageClassName))
        {
            throw new ManifestException("spec.storageClassName", $"'{spec.StorageClassName}' is not a valid name ({NameRule})");
        }
        if (spec.VolumeMode is { } volumeMode && !VolumeModes.Contains(volumeMode))
        {
            throw new ManifestException("spec.volumeMode", $"'{volumeMode}' is not a volume mode ({OneOf(VolumeModes)})");
        }
        if (spec.VolumeName is { Length: > 0 } volumeName && !IsDns1123Subdomain(volumeName))
        {
            throw new ManifestException("spec.volumeName", $"'{volumeName}' is not a valid name ({NameRule})");
        }
    }
}
