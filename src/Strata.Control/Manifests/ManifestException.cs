using System.Globalization;
using System.Text;

namespace Strata.Control.Manifests;

/// <summary>
/// What is wrong with a manifest, as one line that says where: the source, the document (when there are several),
/// the resource (kind and name, when known), the field and the problem:
/// <c>deploy/examples/bad.yaml: document 2 (StoragePoolClaim cstor-pool): spec.maxPools: '3x' is not a whole number</c>.
/// </summary>
public sealed class ManifestException : Exception
{
    private bool pathInProblem;

    public ManifestException()
        : this(null, "the manifest is not valid")
    {
    }

    public ManifestException(string message)
        : this(null, message)
    {
    }

    public ManifestException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problem = message;
    }

    /// <summary>A problem with one field: <paramref name="fieldPath"/> is like <c>spec.resources.requests.storage</c>.</summary>
    public ManifestException(string? fieldPath, string problem)
        : base(problem)
    {
        FieldPath = fieldPath;
        Problem = problem;
    }

    /// <summary>Where the manifest came from: a file name, "-" for standard input, "request body".</summary>
    public string? SourceName { get; private set; }

    /// <summary>The 1-based line, for syntax errors.</summary>
    public int? Line { get; private set; }

    /// <summary>The 1-based document of a multi-document stream; null when the stream has one document.</summary>
    public int? Document { get; private set; }

    /// <summary>The 0-based entry of a <c>kind: List</c>'s items.</summary>
    public int? Item { get; private set; }

    public string? Kind { get; private set; }

    public string? Name { get; private set; }

    /// <summary>The field the problem is in, like <c>spec.maxPools</c>; null when it is about the whole document.</summary>
    public string? FieldPath { get; }

    /// <summary>The problem alone, without where.</summary>
    public string Problem { get; }

    public override string Message
    {
        get
        {
            var sb = new StringBuilder();
            sb.Append(SourceName);
            if (Line is int line)
            {
                Separate(sb).Append(CultureInfo.InvariantCulture, $"line {line}");
            }
            if (Document is int doc)
            {
                Separate(sb).Append(CultureInfo.InvariantCulture, $"document {doc}");
            }
            if (Item is int item)
            {
                (Document is null ? Separate(sb) : sb.Append(", ")).Append(CultureInfo.InvariantCulture, $"items[{item}]");
            }
            if (Kind is not null)
            {
                if (sb.Length > 0)
                {
                    sb.Append(' ');
                }
                sb.Append('(').Append(Kind);
                if (!string.IsNullOrEmpty(Name))
                {
                    sb.Append(' ').Append(Name);
                }
                sb.Append(')');
            }
            if (sb.Length > 0)
            {
                sb.Append(": ");
            }
            if (FieldPath is not null && !pathInProblem)
            {
                sb.Append(FieldPath).Append(": ");
            }
            sb.Append(Problem);
            return sb.ToString();
        }
    }

    private static StringBuilder Separate(StringBuilder sb) => sb.Length > 0 ? sb.Append(": ") : sb;

    /// <summary>"unknown field spec.foo": the problem names the field itself.</summary>
    internal static ManifestException UnknownField(string fieldPath, string? hint = null) =>
        new(fieldPath, $"unknown field {fieldPath}{hint}") { pathInProblem = true };

    /// <summary>A problem whose text already names the field.</summary>
    internal static ManifestException AboutField(string fieldPath, string problem) =>
        new(fieldPath, problem) { pathInProblem = true };

    /// <summary>Fills in where the problem is, keeping what is already known.</summary>
    internal ManifestException At(string? source = null, int? line = null, int? document = null, int? item = null, string? kind = null, string? name = null)
    {
        SourceName ??= source;
        Line ??= line;
        Document ??= document;
        Item ??= item;
        Kind ??= kind;
        Name ??= name;
        return this;
    }
}
