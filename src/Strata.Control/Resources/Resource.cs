using System.Text.Json.Serialization;

namespace Strata.Control.Resources;

/// <summary>
/// A record of the control plane, shaped like a Kubernetes object: what the user asked (spec) and what is true (status).
/// Stored as JSON at <see cref="ResourceKind.KeyOf"/>; <see cref="ObjectMeta.ResourceVersion"/> is the store revision it was read at.
/// </summary>
public abstract class Resource
{
    public string ApiVersion { get; set; } = "";

    public string Kind { get; set; } = "";

    public ObjectMeta Metadata { get; set; } = new();

    /// <summary>The kind's description (names, key prefix, namespaced or not).</summary>
    [JsonIgnore]
    public abstract ResourceKind Descriptor { get; }

    /// <summary>"namespace/name" for namespaced kinds, else the name.</summary>
    [JsonIgnore]
    public string QualifiedName => Metadata.Namespace is { } ns && Descriptor.Namespaced ? $"{ns}/{Metadata.Name}" : Metadata.Name;

    [JsonIgnore]
    public string Key => Descriptor.KeyOf(Metadata.Namespace, Metadata.Name);
}

/// <summary>A resource with a typed spec and status.</summary>
public abstract class Resource<TSpec, TStatus> : Resource
    where TSpec : new()
    where TStatus : new()
{
    public TSpec Spec { get; set; } = new();

    public TStatus Status { get; set; } = new();
}

public sealed class ObjectMeta
{
    public string Name { get; set; } = "";

    /// <summary>Only for namespaced kinds (PersistentVolumeClaim); "default" when a manifest leaves it out.</summary>
    public string? Namespace { get; set; }

    public string? Uid { get; set; }

    public DateTimeOffset? CreationTimestamp { get; set; }

    /// <summary>Set when deletion was asked for and finalization (releasing what the resource holds) is under way.</summary>
    public DateTimeOffset? DeletionTimestamp { get; set; }

    public Dictionary<string, string>? Labels { get; set; }

    public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>The store revision this copy was read at; a write is a compare-and-swap on it. Never stored.</summary>
    [JsonIgnore]
    public long ResourceVersion { get; set; }
}

/// <summary>One condition in the Kubernetes style: a type, whether it holds, a CamelCase reason and a sentence saying why.</summary>
public sealed class Condition
{
    public string Type { get; set; } = "";

    /// <summary>"True", "False" or "Unknown".</summary>
    public string Status { get; set; } = "Unknown";

    public string? Reason { get; set; }

    public string? Message { get; set; }

    public DateTimeOffset? LastTransitionTime { get; set; }
}
