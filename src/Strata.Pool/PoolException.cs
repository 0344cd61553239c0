namespace Strata.Pool;

/// <summary>
/// A pool operation that cannot be done, with a message that names the pool, vdev or volume and the reason
/// (a vdev of another pool, a vdev missing, a name taken, metadata full). Nothing was changed.
/// </summary>
public sealed class PoolException : Exception
{
    public PoolException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
