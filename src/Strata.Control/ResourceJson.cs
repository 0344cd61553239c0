using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Strata.Control.Manifests;
using Strata.Control.Resources;

namespace Strata.Control;

/// <summary>
/// The JSON form of resources, one for the store, the API and <c>-o json</c>: camelCase names (<c>spec.maxPools</c>,
/// <c>persistentVolumeReclaimPolicy</c>), nulls left out, enums as strings, and a resource's fields in kubectl's order
/// (apiVersion, kind, metadata, the kind's own fields, spec, status). Dictionary keys (labels, annotations,
/// <c>storage</c>) are kept as they are.
/// </summary>
public static class ResourceJson
{
    /// <summary>Compact; what the store and the API write and read. Unknown fields are ignored, so an older reader copes with a newer record.</summary>
    public static JsonSerializerOptions Options { get; } = Create(indented: false, strict: false);

    /// <summary>Like <see cref="Options"/>, indented: for <c>-o json</c> and anything people read.</summary>
    public static JsonSerializerOptions IndentedOptions { get; } = Create(indented: true, strict: false);

    /// <summary>Like <see cref="Options"/>, but a field no class has is an error: what manifests are read with (<see cref="ManifestParser"/>).</summary>
    public static JsonSerializerOptions InputOptions { get; } = Create(indented: false, strict: true);

    public static byte[] Serialize(Resource resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return JsonSerializer.SerializeToUtf8Bytes(resource, resource.GetType(), Options);
    }

    /// <summary>A resource of <paramref name="kind"/> from its stored JSON. <see cref="ObjectMeta.ResourceVersion"/> is the caller's to set.</summary>
    public static Resource Deserialize(ReadOnlySpan<byte> json, ResourceKind kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        return JsonSerializer.Deserialize(json, kind.ClrType, Options) as Resource
            ?? throw new JsonException($"a stored {kind.Kind} is null");
    }

    /// <summary>The resource as a JSON tree (for <c>-o jsonpath</c>-like uses and for <see cref="ToYaml"/>).</summary>
    public static JsonObject ToNode(Resource resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return JsonSerializer.SerializeToNode(resource, resource.GetType(), Options)!.AsObject();
    }

    /// <summary>Indented JSON, for <c>-o json</c>.</summary>
    public static string ToJson(Resource resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return JsonSerializer.Serialize(resource, resource.GetType(), IndentedOptions);
    }

    /// <summary>
    /// YAML, for <c>-o yaml</c>: kubectl-like, apiVersion, kind, metadata, spec, status in that order, two-space indents,
    /// multi-line strings (the <c>cas.openebs.io/config</c> annotation) as literal block scalars, strings that would
    /// read back as something else ("2", "true", timestamps) quoted.
    /// </summary>
    public static string ToYaml(Resource resource) => YamlJson.Write(ToNode(resource));

    /// <summary>A resource as the API returns it (JSON), in YAML for <c>-o yaml</c>.</summary>
    public static string ToYaml(JsonNode node) => YamlJson.Write(node);

    private static JsonSerializerOptions Create(bool indented, bool strict)
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            WriteIndented = indented,
            // Quotes and '<' stay as they are ("value: \"2\"" in an annotation), as kubectl writes them: this JSON is not for HTML.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            UnmappedMemberHandling = strict ? JsonUnmappedMemberHandling.Disallow : JsonUnmappedMemberHandling.Skip,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { ShapeResource } },
        };
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly();
        return options;
    }

    /// <summary>
    /// Drops members marked [JsonIgnore] on a base class and overridden without it (<see cref="Resource.Descriptor"/>,
    /// which reflection would otherwise serialize), and puts a resource's fields in kubectl's order.
    /// </summary>
    private static void ShapeResource(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }
        for (int i = info.Properties.Count - 1; i >= 0; i--)
        {
            if (info.Properties[i].AttributeProvider is PropertyInfo property
                && Attribute.GetCustomAttribute(property, typeof(JsonIgnoreAttribute), inherit: true) is JsonIgnoreAttribute { Condition: JsonIgnoreCondition.Always })
            {
                info.Properties.RemoveAt(i);
            }
        }
        if (!typeof(Resource).IsAssignableFrom(info.Type))
        {
            return;
        }
        foreach (var property in info.Properties)
        {
            property.Order = property.Name switch
            {
                "apiVersion" => -3,
                "kind" => -2,
                "metadata" => -1,
                "spec" => 1,
                "status" => 2,
                _ => 0,
            };
        }
    }
}
