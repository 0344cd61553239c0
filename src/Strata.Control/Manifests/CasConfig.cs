using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Control.Resources;

namespace Strata.Control.Manifests;

/// <summary>
/// The <c>cas.openebs.io/config</c> annotation of a StorageClass or StoragePoolClaim: a YAML list of
/// <c>{name, value}</c> entries, a value being a string, a number or a block scalar:
/// <code>
/// - name: StoragePoolClaim
///   value: "cstor-pool"
/// - name: PoolResourceRequests
///   value: |-
///     memory: 512Mi
/// </code>
/// Read into an ordered name → value dictionary; <see cref="ForStorageClass"/> gives the settings Strata uses.
/// </summary>
public sealed class CasConfig
{
    public const string AnnotationKey = "cas.openebs.io/config";

    /// <summary>The annotation as a field path, for messages.</summary>
    public const string FieldPath = "metadata.annotations[" + AnnotationKey + "]";

    /// <summary>The setting naming the StoragePoolClaim whose pools a StorageClass's volumes go to.</summary>
    public const string StoragePoolClaimName = "StoragePoolClaim";

    /// <summary>How many replicas each volume of a StorageClass gets (1 to <see cref="MaxReplicaCount"/>; 1 when not given).</summary>
    public const string ReplicaCountName = "ReplicaCount";

    /// <summary>The filesystem a volume is formatted with (ext4 or xfs; ext4 when not given).</summary>
    public const string FsTypeName = "FSType";

    public const int MaxReplicaCount = 5;

    public static IReadOnlyList<string> FsTypes { get; } = ["ext4", "xfs"];

    /// <summary>The settings a StorageClass may give: the first three are used, the rest (cStor's pod resources, images and tunables) accepted and ignored.</summary>
    public static IReadOnlyList<string> StorageClassNames { get; } =
    [
        StoragePoolClaimName, ReplicaCountName, FsTypeName,
        "TargetResourceRequests", "TargetResourceLimits", "AuxResourceRequests", "AuxResourceLimits",
        "TargetNodeSelector", "TargetTolerations", "ReplicaAntiAffinityTopoKey",
        "VolumeControllerImage", "VolumeTargetImage", "VolumeMonitorImage", "VolumeMonitor",
        "Luworkers", "QueueDepth", "ZvolWorkers",
    ];

    /// <summary>The settings a StoragePoolClaim may give: cStor's pool pod resources and tolerations, accepted and ignored.</summary>
    public static IReadOnlyList<string> StoragePoolClaimNames { get; } =
    [
        "PoolResourceRequests", "PoolResourceLimits", "AuxResourceRequests", "AuxResourceLimits", "Tolerations",
    ];

    public static CasConfig Empty { get; } = new(new OrderedDictionary<string, string>(StringComparer.Ordinal));

    private readonly OrderedDictionary<string, string> entries;

    private CasConfig(OrderedDictionary<string, string> entries) => this.entries = entries;

    /// <summary>The entries in the order written.</summary>
    public IReadOnlyDictionary<string, string> Entries => entries;

    public int Count => entries.Count;

    /// <summary>The value of <paramref name="name"/>, or null when it is not given.</summary>
    public string? this[string name] => entries.TryGetValue(name, out string? value) ? value : null;

    public bool Contains(string name) => entries.ContainsKey(name);

    /// <summary>The annotation of <paramref name="resource"/>, parsed; <see cref="Empty"/> when it has none.</summary>
    public static CasConfig Of(Resource resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return resource.Metadata.Annotations?.GetValueOrDefault(AnnotationKey) is { } text ? Parse(text) : Empty;
    }

    /// <summary>Parses the annotation's text; a <see cref="ManifestException"/> naming <paramref name="fieldPath"/> when it is not a list of name/value entries.</summary>
    public static CasConfig Parse(string? text, string fieldPath = FieldPath)
    {
        var result = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text))
        {
            return new CasConfig(result);
        }
        List<JsonNode?> documents;
        try
        {
            documents = YamlJson.Load(text);
        }
        catch (ManifestException e)
        {
            string where = e.Line is int line ? $" (line {line} of the value)" : "";
            throw new ManifestException(fieldPath, e.Problem.StartsWith("not valid YAML", StringComparison.Ordinal) ? e.Problem : $"not valid YAML{where}: {e.Problem}");
        }
        if (documents.Count > 1)
        {
            throw new ManifestException(fieldPath, "must be one YAML list of '- name: ...' / '  value: ...' entries, not several documents");
        }
        if (documents.Count == 0 || documents[0] is null)
        {
            return new CasConfig(result);
        }
        if (documents[0] is not JsonArray list)
        {
            throw new ManifestException(fieldPath, "must be a YAML list of '- name: ...' / '  value: ...' entries");
        }
        for (int i = 0; i < list.Count; i++)
        {
            string at = $"entry {i + 1}";
            if (list[i] is not JsonObject entry)
            {
                throw AboutEntry(fieldPath, at, "must be a mapping with name and value");
            }
            foreach (var (key, _) in entry)
            {
                if (key is not ("name" or "value"))
                {
                    throw AboutEntry(fieldPath, at, $"has an unknown field '{key}' (an entry has name and value)");
                }
            }
            if (entry["name"] is not JsonValue nameValue || nameValue.GetValueKind() != JsonValueKind.String || YamlJson.StringOf(nameValue) is not { Length: > 0 } name)
            {
                throw AboutEntry(fieldPath, at, "needs a name");
            }
            at += $" ({name})";
            string value = entry["value"] switch
            {
                null => "",
                JsonValue v when v.GetValueKind() == JsonValueKind.String => YamlJson.StringOf(v),
                JsonValue v => v.ToJsonString(),
                _ => throw AboutEntry(fieldPath, at, "has a value that is not a string; write a multi-line value as a block scalar (value: |-)"),
            };
            if (!result.TryAdd(name, value))
            {
                throw AboutEntry(fieldPath, at, "is given twice");
            }
        }
        return new CasConfig(result);
    }

    private static ManifestException AboutEntry(string fieldPath, string entry, string problem) => new(fieldPath, $"{entry} {problem}");

    /// <summary>
    /// What a StorageClass's annotation asks for: the StoragePoolClaim (required), ReplicaCount (1 to 5, default 1) and
    /// FSType (ext4 or xfs, default ext4). Any other setting must be one of <see cref="StorageClassNames"/>.
    /// </summary>
    public static StorageClassConfig ForStorageClass(StorageClass storageClass)
    {
        ArgumentNullException.ThrowIfNull(storageClass);
        var config = Of(storageClass);
        config.CheckNames(StorageClassNames);
        string claim = config[StoragePoolClaimName] ?? "";
        if (claim.Length == 0)
        {
            throw new ManifestException(FieldPath, $"must name the StoragePoolClaim whose pools hold the volumes (- name: {StoragePoolClaimName} / value: \"cstor-pool\")");
        }
        if (!ManifestValidator.IsDns1123Subdomain(claim))
        {
            throw new ManifestException(FieldPath, $"{StoragePoolClaimName} '{claim}' is not a valid name ({ManifestValidator.NameRule})");
        }
        int replicas = 1;
        if (config[ReplicaCountName] is { } count
            && (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out replicas) || replicas < 1 || replicas > MaxReplicaCount))
        {
            throw new ManifestException(FieldPath, $"{ReplicaCountName} '{count}' is not a whole number from 1 to {MaxReplicaCount}");
        }
        string fsType = config[FsTypeName] ?? "ext4";
        if (!FsTypes.Contains(fsType))
        {
            throw new ManifestException(FieldPath, $"{FsTypeName} '{fsType}' is not supported ({string.Join(" or ", FsTypes)})");
        }
        return new StorageClassConfig(claim, replicas, fsType, config);
    }

    /// <summary>A <see cref="ManifestException"/> when a setting is not one of <paramref name="known"/>.</summary>
    public void CheckNames(IReadOnlyList<string> known)
    {
        ArgumentNullException.ThrowIfNull(known);
        foreach (string name in entries.Keys)
        {
            if (!known.Contains(name))
            {
                string? near = known.FirstOrDefault(k => k.Equals(name, StringComparison.OrdinalIgnoreCase));
                string hint = near is null ? $"known: {string.Join(", ", known)}" : $"did you mean {near}?";
                throw new ManifestException(FieldPath, $"unknown setting '{name}' ({hint})");
            }
        }
    }
}

/// <summary>What a StorageClass's <c>cas.openebs.io/config</c> asks of its volumes.</summary>
public sealed record StorageClassConfig(string StoragePoolClaim, int ReplicaCount, string FsType, CasConfig Entries);
