using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Strata.Control.Manifests;

/// <summary>
/// YAML to JSON and back, the way Kubernetes does it: a YAML document is a JSON value written differently. Plain
/// scalars resolve by the YAML 1.2 core schema (null, true/false, integers, floats; everything else is a string);
/// quoted and block scalars are always strings, so <c>"2"</c> stays a string and <c>3</c> is a number.
/// </summary>
internal static partial class YamlJson
{
    /// <summary>A YAML stream of documents can expand (through aliases) to at most this many nodes.</summary>
    private const int MaxNodes = 200_000;

    private const int MaxDepth = 100;

    private const string CoreTag = "tag:yaml.org,2002:";

    /// <summary>The documents of a YAML stream, in order; an empty document is null.</summary>
    public static List<JsonNode?> Load(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new Parser(new StringReader(text)));
        }
        catch (YamlException e)
        {
            int? line = e.Start.Line > 0 ? (int)e.Start.Line : null;
            if (e.Message.Contains("tab", StringComparison.OrdinalIgnoreCase) && FirstTabIndentedLine(text) is int tabLine)
            {
                line = tabLine; // YamlDotNet puts a tab's error at the start of the mapping
            }
            throw new ManifestException(null, Describe(e)).At(line: line);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            // YamlDotNet fails this way on some malformed input (an unclosed flow sequence in a block sequence).
            throw new ManifestException(null, "not valid YAML (is a bracket or quote left open?)");
        }
        int budget = MaxNodes;
        return stream.Documents.Select(d => Convert(d.RootNode, 0, ref budget)).ToList();
    }

    private static int? FirstTabIndentedLine(string text)
    {
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart(' ').StartsWith('\t'))
            {
                return i + 1;
            }
        }
        return null;
    }

    private static JsonNode? Convert(YamlNode node, int depth, ref int budget)
    {
        if (--budget < 0)
        {
            throw new ManifestException(null, $"the document is too large (more than {MaxNodes} values once aliases are expanded)").At(line: Line(node));
        }
        if (depth > MaxDepth)
        {
            throw new ManifestException(null, $"the document is nested more than {MaxDepth} deep").At(line: Line(node));
        }
        switch (node)
        {
            case YamlScalarNode scalar:
                return Scalar(scalar);
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                foreach (var child in sequence.Children)
                {
                    array.Add(Convert(child, depth + 1, ref budget));
                }
                return array;
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                List<YamlNode>? merges = null;
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name } keyScalar)
                    {
                        throw new ManifestException(null, "a mapping key must be a plain string, not a list or mapping").At(line: Line(key));
                    }
                    if (name == "<<" && keyScalar.Style == ScalarStyle.Plain)
                    {
                        // A merge key: the mapping (or mappings) it names fill in the keys this one does not give.
                        merges ??= [];
                        merges.AddRange(value is YamlSequenceNode many ? many.Children : [value]);
                        continue;
                    }
                    if (obj.ContainsKey(name))
                    {
                        throw new ManifestException(null, $"duplicate key '{name}'").At(line: Line(key));
                    }
                    obj[name] = Convert(value, depth + 1, ref budget);
                }
                foreach (var source in merges ?? [])
                {
                    if (Convert(source, depth + 1, ref budget) is not JsonObject merged)
                    {
                        throw new ManifestException(null, "a merge key (<<) must name a mapping").At(line: Line(source));
                    }
                    foreach (var (key, value) in merged.ToList())
                    {
                        if (!obj.ContainsKey(key))
                        {
                            merged.Remove(key);
                            obj[key] = value;
                        }
                    }
                }
                return obj;
            default:
                throw new ManifestException(null, $"unsupported YAML node {node.NodeType}").At(line: Line(node));
        }
    }

    private static int? Line(YamlNode node) => node.Start.Line > 0 ? (int)node.Start.Line : null;

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        string text = scalar.Value ?? "";
        if (!scalar.Tag.IsEmpty && !scalar.Tag.IsNonSpecific && scalar.Tag.Value.StartsWith(CoreTag, StringComparison.Ordinal))
        {
            string tag = scalar.Tag.Value[CoreTag.Length..];
            JsonNode? typed = tag switch
            {
                "str" => JsonValue.Create(text),
                "null" => null,
                _ => Resolve(text),
            };
            bool fits = tag switch
            {
                "str" or "null" => true,
                "bool" => typed is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False,
                "int" => typed is JsonValue v && v.GetValueKind() == JsonValueKind.Number && !text.Contains('.', StringComparison.Ordinal),
                "float" => typed is JsonValue v && v.GetValueKind() == JsonValueKind.Number,
                _ => true,
            };
            if (!fits)
            {
                throw new ManifestException(null, $"'{text}' is not a !!{tag}").At(line: Line(scalar));
            }
            return typed;
        }
        if (scalar.Style != ScalarStyle.Plain || scalar.Tag.IsNonSpecific)
        {
            return JsonValue.Create(text);
        }
        return Resolve(text);
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex DecimalInteger();

    [GeneratedRegex(@"^0o[0-7]+$", RegexOptions.CultureInvariant)]
    private static partial Regex OctalInteger();

    [GeneratedRegex(@"^0x[0-9a-fA-F]+$", RegexOptions.CultureInvariant)]
    private static partial Regex HexInteger();

    [GeneratedRegex(@"^(?<sign>[-+]?)(?:\.(?<frac>[0-9]+)|(?<int>[0-9]+)(?:\.(?<frac>[0-9]*))?)(?<exp>[eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Float();

    [GeneratedRegex(@"^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$", RegexOptions.CultureInvariant)]
    private static partial Regex Special();

    /// <summary>A plain scalar by the YAML 1.2 core schema: JSON null, a boolean, a number (as JSON text) or a string.</summary>
    private static JsonNode? Resolve(string text)
    {
        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }
        if (DecimalInteger().IsMatch(text))
        {
            return Number(BigInteger.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
        }
        if (OctalInteger().IsMatch(text))
        {
            BigInteger value = 0;
            foreach (char c in text.AsSpan(2))
            {
                value = (value * 8) + (c - '0');
            }
            return Number(value.ToString(CultureInfo.InvariantCulture));
        }
        if (HexInteger().IsMatch(text))
        {
            return Number(BigInteger.Parse("0" + text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
        }
        if (Float().Match(text) is { Success: true } m)
        {
            string intPart = m.Groups["int"].Value.TrimStart('0');
            string frac = m.Groups["frac"].Value;
            string json = (m.Groups["sign"].Value == "-" ? "-" : "") + (intPart.Length == 0 ? "0" : intPart) + (frac.Length > 0 ? "." + frac : "") + m.Groups["exp"].Value;
            return Number(json);
        }
        // .inf and .nan have no JSON form: they stay strings, and a number field refuses them by name.
        return JsonValue.Create(text);
    }

    private static JsonNode Number(string json) => JsonNode.Parse(json)!;

    /// <summary>True when <paramref name="text"/> written plain would not read back as that string (here, in YAML 1.1 readers, or as a timestamp).</summary>
    public static bool NeedsQuotes(string text) =>
        Resolve(text) is not JsonValue v || v.GetValueKind() != JsonValueKind.String
        || Special().IsMatch(text)
        || Yaml11Word().IsMatch(text)
        || Yaml11Number().IsMatch(text)
        || Timestamp().IsMatch(text);

    [GeneratedRegex(@"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$", RegexOptions.CultureInvariant)]
    private static partial Regex Yaml11Word();

    [GeneratedRegex(@"^[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_:]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?|\.[0-9_]+([eE][-+]?[0-9]+)?)$", RegexOptions.CultureInvariant)]
    private static partial Regex Yaml11Number();

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", RegexOptions.CultureInvariant)]
    private static partial Regex Timestamp();

    /// <summary>YAML for a JSON value, block style, two-space indents, multi-line strings as literal block scalars.</summary>
    public static string Write(JsonNode? node)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        var emitter = new Emitter(writer, 2, 100_000, false);
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart());
        Emit(emitter, node);
        emitter.Emit(new DocumentEnd(true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    private static void Emit(Emitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                emitter.Emit(new YamlDotNet.Core.Events.Scalar(AnchorName.Empty, TagName.Empty, "null", ScalarStyle.Plain, true, false));
                break;
            case JsonObject obj:
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, obj.Count == 0 ? MappingStyle.Flow : MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    EmitString(emitter, key);
                    Emit(emitter, value);
                }
                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, array.Count == 0 ? SequenceStyle.Flow : SequenceStyle.Block));
                foreach (var item in array)
                {
                    Emit(emitter, item);
                }
                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        EmitString(emitter, StringOf(value));
                        break;
                    case JsonValueKind.Null:
                        Emit(emitter, null);
                        break;
                    default: // numbers and booleans: their JSON text is their YAML
                        emitter.Emit(new YamlDotNet.Core.Events.Scalar(AnchorName.Empty, TagName.Empty, value.ToJsonString(), ScalarStyle.Plain, true, false));
                        break;
                }
                break;
        }
    }

    /// <summary>The string a JSON string value holds, whatever CLR value backs it (a DateTimeOffset, an enum...).</summary>
    public static string StringOf(JsonValue value) =>
        value.TryGetValue(out string? s) ? s : JsonSerializer.Deserialize<string>(value.ToJsonString()) ?? "";

    private static void EmitString(Emitter emitter, string text)
    {
        ScalarStyle style = text.Contains('\n', StringComparison.Ordinal) ? ScalarStyle.Literal
            : NeedsQuotes(text) ? ScalarStyle.DoubleQuoted
            : ScalarStyle.Any;
        emitter.Emit(new YamlDotNet.Core.Events.Scalar(AnchorName.Empty, TagName.Empty, text, style, true, true));
    }

    /// <summary>One line for a YAML syntax error, in the words kubectl users know where there are such words.</summary>
    private static string Describe(YamlException e)
    {
        string m = LocationPrefix().Replace(e.Message, "").Trim();
        if (m.Contains("found invalid mapping", StringComparison.OrdinalIgnoreCase)
            || m.Contains("mapping values are not allowed", StringComparison.OrdinalIgnoreCase))
        {
            return "mapping values are not allowed here (quote a value that holds ': ')";
        }
        if (m.Contains("tab", StringComparison.OrdinalIgnoreCase) && m.Contains("indentation", StringComparison.OrdinalIgnoreCase))
        {
            return "found a tab in the indentation; indent with spaces";
        }
        if (m.StartsWith("Duplicate key", StringComparison.OrdinalIgnoreCase))
        {
            return $"duplicate key '{m["Duplicate key".Length..].Trim()}'";
        }
        if (m.Contains("while scanning a", StringComparison.OrdinalIgnoreCase) && m.Contains("quoted scalar", StringComparison.OrdinalIgnoreCase))
        {
            // YamlDotNet: "While scanning a multi-line double-quoted scalar, found wrong indentation", "... found unexpected end of stream".
            return "a quoted value is not closed (its closing quote is missing)";
        }
        if (m.Contains("did not find expected key", StringComparison.OrdinalIgnoreCase))
        {
            return "did not find the expected key (is the indentation consistent?)";
        }
        if (m.Length > 0)
        {
            m = char.ToLowerInvariant(m[0]) + m[1..];
        }
        return m.TrimEnd('.');
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*", RegexOptions.CultureInvariant)]
    private static partial Regex LocationPrefix();
}
