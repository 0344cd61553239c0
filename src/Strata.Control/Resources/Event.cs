namespace Strata.Control.Resources;

/// <summary>Something that happened to a resource, shown by `strata describe` (like `kubectl describe`'s Events).</summary>
public sealed class ResourceEvent
{
    /// <summary>Normal or Warning.</summary>
    public string Type { get; set; } = "Normal";

    public string Reason { get; set; } = "";

    public string Message { get; set; } = "";

    /// <summary>Which component reported it: control-plane, node/&lt;name&gt;.</summary>
    public string Source { get; set; } = "";

    public int Count { get; set; } = 1;

    public DateTimeOffset FirstTimestamp { get; set; }

    public DateTimeOffset LastTimestamp { get; set; }
}
