namespace Strata.Replication;

public sealed class ReplicaServerOptions
{
    /// <summary>Requests one connection may have in flight; the server stops reading that connection while it is full.</summary>
    public int MaxInFlightPerConnection { get; init; } = 256;

    /// <summary>Bytes of data buffers one connection's requests in flight may hold (one larger request still goes alone).</summary>
    public long MaxInFlightBytesPerConnection { get; init; } = 64L << 20;

    /// <summary>How long a connection the server closes (protocol error, fenced) keeps reading and discarding after its
    /// last response, so the client receives that response before the close, not a reset.</summary>
    public TimeSpan LingerOnClose { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Where each volume's write-intent bitmap is kept (<c>&lt;volume id&gt;.intent</c>), beside the epochs; null keeps
    /// them in memory only, so a restart forgets them (tests, and servers without a data directory).
    /// </summary>
    public string? IntentDirectory { get; init; }

    /// <summary>Bytes of one write-intent region (1 MiB; docs/replication.md, "The write-intent log").</summary>
    public int IntentRegionBytes { get; init; } = Server.WriteIntentLog.DefaultRegionBytes;

    public Action<string> Log { get; init; } = _ => { };
}
