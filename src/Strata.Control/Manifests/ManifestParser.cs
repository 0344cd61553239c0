using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Strata.Control.Resources;

namespace Strata.Control.Manifests;

/// <summary>
/// Reads manifests the way <c>kubectl apply -f</c> does: YAML or JSON, several documents separated by <c>---</c> (or
/// several JSON values one after another), a <c>kind: List</c> whose <c>items</c> are resources; empty documents are
/// skipped. Each document becomes the typed resource of its kind. Every field must be one the kind has, except
/// <c>status</c> (ignored: the control plane owns it) and the metadata the server owns (uid, resourceVersion,
/// generation, creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds, managedFields, selfLink) and
/// finalizers and ownerReferences, which are accepted and dropped so that <c>get -o yaml</c> output can be applied again.
/// Problems are <see cref="ManifestException"/>s whose one-line message says where.
/// </summary>
public static partial class ManifestParser
{
    /// <summary>The apiVersions each kind is accepted with; the first is the one it is stored with.</summary>
    public static IReadOnlyDictionary<ResourceKind, IReadOnlyList<string>> ApiVersions { get; } = new Dictionary<ResourceKind, IReadOnlyList<string>>
    {
        [ResourceKind.BlockDevice] = ["openebs.io/v1alpha1"],
        [ResourceKind.StoragePoolClaim] = ["openebs.io/v1alpha1"],
        [ResourceKind.StoragePool] = ["openebs.io/v1alpha1"],
        [ResourceKind.VolumeReplica] = ["openebs.io/v1alpha1"],
        [ResourceKind.StorageClass] = ["storage.k8s.io/v1", "storage.k8s.io/v1beta1"],
        [ResourceKind.PersistentVolumeClaim] = ["v1"],
        [ResourceKind.Volume] = ["v1"],
        [ResourceKind.Node] = ["v1"],
    };

    private static readonly string[] DroppedMetadata =
    [
        "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
        "managedFields", "selfLink", "finalizers", "ownerReferences",
    ];

    /// <summary>
    /// The resources in <paramref name="text"/>, each checked by <see cref="ManifestValidator"/> (what <c>apply</c>
    /// takes). <paramref name="source"/> names where the text came from in messages.
    /// </summary>
    public static IReadOnlyList<Resource> Parse(string text, string source) => Parse(text, source, validate: true);

    /// <summary>
    /// The resources in <paramref name="text"/>; with <paramref name="validate"/> false only their syntax, kinds,
    /// apiVersions, fields and types are checked (so that kinds the control plane makes can be read too).
    /// </summary>
    public static IReadOnlyList<Resource> Parse(string text, string source, bool validate)
    {
        ArgumentNullException.ThrowIfNull(text);
        List<JsonNode?> documents;
        try
        {
            documents = ReadDocuments(text);
        }
        catch (ManifestException e)
        {
            throw e.At(source);
        }

        // Documents are numbered among the non-empty ones, and only when there are several.
        documents.RemoveAll(d => d is null);
        var resources = new List<Resource>();
        for (int d = 0; d < documents.Count; d++)
        {
            int? number = documents.Count > 1 ? d + 1 : null;
            try
            {
                var document = documents[d]!;
                if (document is JsonObject obj && obj["kind"] is JsonValue kind && kind.GetValueKind() == JsonValueKind.String && YamlJson.StringOf(kind) == "List")
                {
                    var items = ListItems(obj);
                    for (int i = 0; i < items.Count; i++)
                    {
                        try
                        {
                            resources.Add(ReadResource(items[i], validate, inList: true));
                        }
                        catch (ManifestException e)
                        {
                            throw e.At(item: i);
                        }
                    }
                }
                else
                {
                    resources.Add(ReadResource(document, validate, inList: false));
                }
            }
            catch (ManifestException e)
            {
                throw e.At(source, document: number);
            }
        }
        return resources;
    }

    /// <summary>The resources in the file at <paramref name="path"/>, validated; messages name the path.</summary>
    public static IReadOnlyList<Resource> ParseFile(string path) => Parse(File.ReadAllText(path), path);

    private static List<JsonNode?> ReadDocuments(string text)
    {
        text = text.TrimStart('\uFEFF');
        var start = text.AsSpan().TrimStart();
        if (start.Length > 0 && start[0] is '{' or '[')
        {
            try
            {
                return ReadJson(text);
            }
            catch (ManifestException) when (!LooksLikeJson(start))
            {
                // A YAML flow mapping with bare keys ({apiVersion: v1, ...}) is not JSON but is a manifest.
                return YamlJson.Load(text);
            }
        }
        return YamlJson.Load(text);
    }

    /// <summary>JSON rather than a YAML flow mapping: a list, or a mapping whose first key is quoted.</summary>
    private static bool LooksLikeJson(ReadOnlySpan<char> start) =>
        start[0] == '[' || start[1..].TrimStart() is { Length: > 0 } rest && rest[0] is '"' or '}';

    /// <summary>One or more JSON values one after another.</summary>
    private static List<JsonNode?> ReadJson(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        var documents = new List<JsonNode?>();
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { AllowMultipleValues = true, MaxDepth = 100 });
        try
        {
            while (reader.Read())
            {
                int begin = (int)reader.TokenStartIndex;
                reader.Skip();
                int end = (int)reader.BytesConsumed;
                using var doc = JsonDocument.Parse(utf8.AsMemory(begin, end - begin), new JsonDocumentOptions { MaxDepth = 100 });
                documents.Add(FromElement(doc.RootElement, ""));
            }
        }
        catch (JsonException e)
        {
            throw new ManifestException(null, CleanJsonMessage(e.Message)).At(line: e.LineNumber is long line ? (int)line + 1 : null);
        }
        return documents;
    }

    private static JsonNode? FromElement(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in element.EnumerateObject())
                {
                    string at = Child(path, property.Name);
                    if (obj.ContainsKey(property.Name))
                    {
                        throw ManifestException.AboutField(at, $"{at} is given twice");
                    }
                    obj[property.Name] = FromElement(property.Value, at);
                }
                return obj;
            case JsonValueKind.Array:
                var array = new JsonArray();
                int i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    array.Add(FromElement(item, Index(path, i++)));
                }
                return array;
            case JsonValueKind.String:
                return JsonValue.Create(element.GetString());
            case JsonValueKind.Number:
                return JsonNode.Parse(element.GetRawText());
            case JsonValueKind.True:
                return JsonValue.Create(true);
            case JsonValueKind.False:
                return JsonValue.Create(false);
            default:
                return null;
        }
    }

    [GeneratedRegex(@"\s*(Path: \S* \|\s*)?LineNumber: \d+ \| BytePositionInLine: \d+\.?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex JsonPosition();

    private static string CleanJsonMessage(string message)
    {
        string m = JsonPosition().Replace(message, "").Trim().TrimEnd('.');
        return m.Length == 0 ? "not valid JSON" : m;
    }

    private static List<JsonNode?> ListItems(JsonObject list)
    {
        foreach (var (key, _) in list)
        {
            if (key is not ("apiVersion" or "kind" or "metadata" or "items"))
            {
                throw ManifestException.UnknownField(key, " (a List has apiVersion, kind, metadata and items)").At(kind: "List");
            }
        }
        if (StringField(list, "apiVersion") is { } apiVersion && apiVersion != "v1")
        {
            throw new ManifestException("apiVersion", $"'{apiVersion}' is not one List accepts (v1)").At(kind: "List");
        }
        return list["items"] switch
        {
            null => [],
            JsonArray items => [.. items],
            var other => throw new ManifestException("items", $"expected a list, got {Describe(other)}").At(kind: "List"),
        };
    }

    private static Resource ReadResource(JsonNode? node, bool validate, bool inList)
    {
        if (node is not JsonObject obj)
        {
            throw new ManifestException(null, $"expected a resource (a mapping with apiVersion, kind and metadata), got {Describe(node)}");
        }
        string? name = obj["metadata"] is JsonObject meta && meta["name"] is JsonValue n && n.GetValueKind() == JsonValueKind.String ? YamlJson.StringOf(n) : null;
        string kindName = StringField(obj, "kind") ?? throw new ManifestException("kind", "is required (StoragePoolClaim, StorageClass, PersistentVolumeClaim...)");
        if (kindName == "List" && inList)
        {
            throw new ManifestException("kind", "a List cannot hold a List").At(kind: "List");
        }
        var kind = ResourceKind.All.FirstOrDefault(k => k.Kind == kindName) ?? throw UnknownKind(kindName);
        try
        {
            var accepted = ApiVersions[kind];
            string apiVersion = StringField(obj, "apiVersion") ?? throw new ManifestException("apiVersion", $"is required ({kind.Kind} takes {accepted[0]})");
            if (!accepted.Contains(apiVersion))
            {
                throw new ManifestException("apiVersion", $"'{apiVersion}' is not one {kind.Kind} accepts ({string.Join(", ", accepted)})");
            }

            obj.Remove("status");
            if (obj["metadata"] is JsonObject metadata)
            {
                if (metadata.ContainsKey("generateName"))
                {
                    throw new ManifestException("metadata.generateName", "is not supported; give metadata.name");
                }
                foreach (string field in DroppedMetadata)
                {
                    metadata.Remove(field);
                }
                if (!kind.Namespaced)
                {
                    // As Kubernetes does: a namespace on a cluster-wide resource means nothing.
                    metadata.Remove("namespace");
                }
            }

            Check(obj, ResourceJson.InputOptions.GetTypeInfo(kind.ClrType), "");
            Resource resource;
            try
            {
                resource = (Resource)obj.Deserialize(kind.ClrType, ResourceJson.InputOptions)!;
            }
            catch (JsonException e)
            {
                string? path = e.Path is { Length: > 1 } p && p.StartsWith("$.", StringComparison.Ordinal) ? p[2..] : null;
                throw new ManifestException(path, CleanJsonMessage(e.Message));
            }
            resource.ApiVersion = kind.ApiVersion;
            resource.Kind = kind.Kind;
            if (kind.Namespaced)
            {
                resource.Metadata.Namespace ??= "default";
            }
            if (validate)
            {
                ManifestValidator.Validate(resource);
            }
            return resource;
        }
        catch (ManifestException e)
        {
            throw e.At(kind: kind.Kind, name: name);
        }
    }

    private static ManifestException UnknownKind(string kindName)
    {
        string known = string.Join(", ", ResourceKind.All.Select(k => k.Kind));
        string hint = ResourceKind.Find(kindName) is { } near ? $"; did you mean {near.Kind}?" : "";
        return new ManifestException(null, $"unknown kind '{kindName}' (known: {known}{hint})");
    }

    /// <summary>A string field of a document, or null when it is absent.</summary>
    private static string? StringField(JsonObject obj, string key) => obj[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => YamlJson.StringOf(v),
        var other => throw new ManifestException(key, $"expected a string, got {Describe(other)}"),
    };

    private static string Child(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    private static string Index(string path, int i) => string.Create(CultureInfo.InvariantCulture, $"{path}[{i}]");

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex PlainKey();

    /// <summary>A map entry's path: <c>spec.resources.requests.storage</c>, <c>metadata.annotations[cas.openebs.io/config]</c>.</summary>
    private static string Entry(string path, string key) => PlainKey().IsMatch(key) ? Child(path, key) : $"{path}[{key}]";

    /// <summary>How a value looks in a message: 'text' for scalars, "a mapping" or "a list" otherwise.</summary>
    internal static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "a mapping",
        JsonArray => "a list",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => $"'{YamlJson.StringOf(v)}'",
        _ => $"'{node.ToJsonString()}'",
    };

    /// <summary>
    /// Checks <paramref name="node"/> against the shape of <paramref name="info"/>'s type before deserializing, so
    /// that every problem names its field: unknown fields, wrong types. On the way, a null field is dropped (absent),
    /// a number where a string is expected becomes its text (<c>storage: 1073741824</c>), and a null in a string map
    /// becomes "". Returns the node to use in place of <paramref name="node"/>.
    /// </summary>
    private static JsonNode Check(JsonNode node, JsonTypeInfo info, string path)
    {
        Type type = Nullable.GetUnderlyingType(info.Type) ?? info.Type;
        switch (info.Kind)
        {
            case JsonTypeInfoKind.Object:
                if (node is not JsonObject obj)
                {
                    throw new ManifestException(path, $"expected a mapping, got {Describe(node)}");
                }
                foreach (var (key, value) in obj.ToList())
                {
                    string at = Child(path, key);
                    var property = info.Properties.FirstOrDefault(p => p.Name == key);
                    if (property is null)
                    {
                        var near = info.Properties.FirstOrDefault(p => p.Name.Equals(key, StringComparison.OrdinalIgnoreCase));
                        string? hint = near is not null ? $" (did you mean {near.Name}?)"
                            : path.Length == 0 && key == "spec" ? $" (this kind has no spec: its fields are at the top, {string.Join(", ", info.Properties.Select(p => p.Name).Where(n => n is not ("apiVersion" or "kind" or "metadata")))})"
                            : null;
                        throw ManifestException.UnknownField(at, hint);
                    }
                    if (value is null)
                    {
                        obj.Remove(key);
                        continue;
                    }
                    var checkedValue = Check(value, info.Options.GetTypeInfo(property.PropertyType), at);
                    if (!ReferenceEquals(checkedValue, value))
                    {
                        obj[key] = checkedValue;
                    }
                }
                return obj;

            case JsonTypeInfoKind.Dictionary:
                if (node is not JsonObject map)
                {
                    throw new ManifestException(path, $"expected a mapping, got {Describe(node)}");
                }
                var valueInfo = info.Options.GetTypeInfo(info.ElementType!);
                foreach (var (key, value) in map.ToList())
                {
                    JsonNode? replacement = value is null
                        ? (info.ElementType == typeof(string) ? JsonValue.Create("") : throw new ManifestException(Entry(path, key), "expected a value, got null"))
                        : Check(value, valueInfo, Entry(path, key));
                    if (!ReferenceEquals(replacement, value))
                    {
                        map[key] = replacement;
                    }
                }
                return map;

            case JsonTypeInfoKind.Enumerable:
                if (node is not JsonArray array)
                {
                    throw new ManifestException(path, $"expected a list, got {Describe(node)}");
                }
                var itemInfo = info.Options.GetTypeInfo(info.ElementType!);
                for (int i = 0; i < array.Count; i++)
                {
                    var item = array[i] ?? throw new ManifestException(Index(path, i), "expected a value, got null");
                    var checkedItem = Check(item, itemInfo, Index(path, i));
                    if (!ReferenceEquals(checkedItem, item))
                    {
                        array[i] = checkedItem;
                    }
                }
                return array;

            default:
                return CheckScalar(node, type, path);
        }
    }

    private static JsonNode CheckScalar(JsonNode node, Type type, string path)
    {
        var kind = node is JsonValue v ? v.GetValueKind() : JsonValueKind.Undefined;
        if (type == typeof(string))
        {
            return kind switch
            {
                JsonValueKind.String => node,
                JsonValueKind.Number => JsonValue.Create(node.ToJsonString()),
                JsonValueKind.True or JsonValueKind.False => throw new ManifestException(path, $"expected a string, got {node.ToJsonString()} (quote it: \"{node.ToJsonString()}\")"),
                _ => throw new ManifestException(path, $"expected a string, got {Describe(node)}"),
            };
        }
        if (type == typeof(int) || type == typeof(long))
        {
            string text = kind == JsonValueKind.Number ? node.ToJsonString() : "";
            bool fits = type == typeof(int) ? int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) : long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);
            if (fits)
            {
                return node;
            }
            if (kind == JsonValueKind.Number && IsWholeNumberText(text))
            {
                throw new ManifestException(path, $"'{text}' is too large (at most {(type == typeof(int) ? int.MaxValue : long.MaxValue)})");
            }
            if (kind == JsonValueKind.String && long.TryParse(YamlJson.StringOf((JsonValue)node), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long quoted))
            {
                throw new ManifestException(path, $"{Describe(node)} is a string, not a whole number (write {quoted} without quotes)");
            }
            throw new ManifestException(path, $"{Describe(node)} is not a whole number");
        }
        if (type == typeof(bool))
        {
            return kind is JsonValueKind.True or JsonValueKind.False ? node
                : throw new ManifestException(path, $"{Describe(node)} is not true or false");
        }
        if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
        {
            return kind == JsonValueKind.String && DateTimeOffset.TryParse(YamlJson.StringOf((JsonValue)node), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _) ? node
                : throw new ManifestException(path, $"{Describe(node)} is not a timestamp (like 2026-01-02T03:04:05Z)");
        }
        if (type.IsEnum)
        {
            return kind == JsonValueKind.String && Enum.GetNames(type).Contains(YamlJson.StringOf((JsonValue)node)) ? node
                : throw new ManifestException(path, $"{Describe(node)} is not one of {string.Join(", ", Enum.GetNames(type))}");
        }
        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return kind == JsonValueKind.Number ? node : throw new ManifestException(path, $"{Describe(node)} is not a number");
        }
        return node;
    }

    private static bool IsWholeNumberText(string text) => text.Length > 0 && text.AsSpan(text[0] == '-' ? 1 : 0).IndexOfAnyExceptInRange('0', '9') < 0;
}
