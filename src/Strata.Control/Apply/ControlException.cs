namespace Strata.Control.Apply;

/// <summary>A request the control plane refuses, with the HTTP status to answer and one line saying why. Nothing was changed.</summary>
public sealed class ControlException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ControlException BadRequest(string message) => new(400, message);

    public static ControlException NotFound(string message) => new(404, message);

    public static ControlException Conflict(string message) => new(409, message);
}
