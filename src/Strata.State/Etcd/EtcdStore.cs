using System.Runtime.CompilerServices;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Mvccpb;

namespace Strata.State.Etcd;

/// <summary>
/// <see cref="IStore"/> on an etcd v3 cluster (dotnet-etcd's <see cref="EtcdClient"/> over one gRPC channel that
/// balances round-robin over the endpoints). The mapping:
/// <list type="bullet">
/// <item>a conditional put or delete is a Txn comparing the key's mod_revision (create_revision == 0 for <see cref="Revision.Absent"/>);</item>
/// <item>a list is a range over [prefix, prefix+1), paged at one revision, and returns that revision;</item>
/// <item>a watch is an etcd watch from a start revision; a broken stream is re-established from the last delivered
/// revision + 1 (no gaps, no duplicates), a compacted start throws <see cref="StoreCompactedException"/>;</item>
/// <item>leases are etcd leases: TTLs are whole seconds (rounded up), and etcd raises a TTL below its minimum —
/// 1.5 × the election timeout rounded up to a second, 2 s with etcd's defaults — to that minimum. A lease revoke deletes
/// all its records at one revision (several events share it).</item>
/// </list>
/// Only reads are retried by the client: a failed write throws <see cref="StoreException"/> (it may or may not have
/// been applied) rather than being sent twice, which would turn a successful compare-and-swap into a reported conflict.
/// </summary>
public sealed class EtcdStore : IStore
{
    private readonly GrpcChannel _channel;
    private readonly EtcdClient _client;
    private readonly Watch.WatchClient _watchClient;
    private readonly Lease.LeaseClient _leaseClient;
    private readonly EtcdStoreOptions _options;
    private readonly CancellationTokenSource _disposing = new();
    private int _disposed;

    private EtcdStore(string description, GrpcChannel channel, EtcdStoreOptions options)
    {
        Description = description;
        _channel = channel;
        _options = options;
        _client = new EtcdClient(channel.CreateCallInvoker());
        var connection = _client.GetConnection();
        _watchClient = connection.WatchClient;
        _leaseClient = connection.LeaseClient;
    }

    /// <summary>"etcd://HOST:PORT[,HOST:PORT…]".</summary>
    public string Description { get; }

    /// <summary>
    /// Connects to the cluster at <paramref name="endpoints"/>: one or more comma-separated URLs, "http://127.0.0.1:2379"
    /// (or https:// for TLS with the system's trusted roots), and checks that it answers within
    /// <see cref="EtcdStoreOptions.ConnectTimeout"/>. Throws <see cref="StoreException"/> naming the endpoints when it does not.
    /// </summary>
    public static async Task<EtcdStore> ConnectAsync(string endpoints, EtcdStoreOptions? options = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoints);
        options ??= new EtcdStoreOptions();
        options.Validate();
        var (uris, hostPorts) = ParseEndpoints(endpoints);
        string description = "etcd://" + string.Join(",", hostPorts);
        var channel = CreateChannel(uris);
        var store = new EtcdStore(description, channel, options);
        try
        {
            // Any answer proves the cluster is there; reads are retried while no endpoint is reachable, up to the deadline.
            await store._client.GetAsync(new RangeRequest { Key = ByteString.CopyFrom(0), Limit = 1, CountOnly = true },
                deadline: DateTime.UtcNow + options.ConnectTimeout, cancellationToken: ct).ConfigureAwait(false);
            return store;
        }
        catch (RpcException e)
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw new StoreException($"{description} is unreachable: {e.Status.StatusCode}: {e.Status.Detail}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            // The deadline can also surface as a cancellation (grpc-dotnet, when it fires while the call still connects).
            await store.DisposeAsync().ConfigureAwait(false);
            throw new StoreException($"{description} is unreachable: no answer within {options.ConnectTimeout.TotalSeconds:0.#} s", e);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The endpoints' URIs and their "HOST:PORT" forms.</summary>
    internal static (Uri[] Uris, string[] HostPorts) ParseEndpoints(string endpoints)
    {
        var uris = new List<Uri>();
        var hostPorts = new List<string>();
        foreach (string part in endpoints.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int scheme = part.IndexOf("://", StringComparison.Ordinal);
            string hostPort = scheme < 0 ? "" : part[(scheme + 3)..].TrimEnd('/');
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || !StoreKeys.HasExplicitPort(hostPort) || uri.AbsolutePath != "/" || uri.Query.Length != 0 || uri.UserInfo.Length != 0)
            {
                throw new ArgumentException($"etcd endpoint '{part}' is not http://HOST:PORT or https://HOST:PORT", nameof(endpoints));
            }
            uris.Add(uri);
            hostPorts.Add(hostPort);
        }
        if (uris.Count == 0)
        {
            throw new ArgumentException("no etcd endpoint given", nameof(endpoints));
        }
        if (uris.Select(u => u.Scheme).Distinct().Count() > 1)
        {
            throw new ArgumentException($"etcd endpoints '{endpoints}' mix http and https", nameof(endpoints));
        }
        return ([.. uris], [.. hostPorts]);
    }

    private static GrpcChannel CreateChannel(Uri[] uris)
    {
        // A static resolver over every endpoint, balanced round-robin, as dotnet-etcd's own constructor does; but only
        // the KV Range read is retried (see the class comment), and keep-alive pings notice a dead peer under a watch.
        var addresses = uris.Select(u => new BalancerAddress(u.IdnHost, u.Port)).ToArray();
        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => addresses));
        var retryReads = new MethodConfig
        {
            Names = { new MethodName { Service = "etcdserverpb.KV", Method = "Range" } },
            RetryPolicy = new RetryPolicy
            {
                MaxAttempts = 5,
                InitialBackoff = TimeSpan.FromMilliseconds(200),
                MaxBackoff = TimeSpan.FromSeconds(2),
                BackoffMultiplier = 2,
                RetryableStatusCodes = { StatusCode.Unavailable },
            },
        };
        return GrpcChannel.ForAddress("static://etcd", new GrpcChannelOptions
        {
            Credentials = uris[0].Scheme == Uri.UriSchemeHttps ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
            ServiceProvider = services.BuildServiceProvider(),
            ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() }, MethodConfigs = { retryReads } },
            MaxReceiveMessageSize = 256 << 20,
            ThrowOperationCanceledOnCancellation = true,
            DisposeHttpClient = true,
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                EnableMultipleHttp2Connections = true,
            },
        });
    }

    public async Task<StoreRecord?> GetAsync(string key, CancellationToken ct = default)
    {
        StoreKeys.CheckKey(key, nameof(key));
        var response = await CallAsync(
            (deadline, token) => _client.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, deadline: deadline, cancellationToken: token),
            ct).ConfigureAwait(false);
        return response.Kvs.Count == 0 ? null : ToRecord(response.Kvs[0]);
    }

    public async Task<StoreList> ListAsync(string prefix, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var (start, end) = PrefixRange(prefix);
        var records = new List<StoreRecord>();
        long revision = 0;
        while (true)
        {
            var request = new RangeRequest { Key = start, RangeEnd = end, Limit = _options.ListPageSize, Revision = revision };
            var response = await CallAsync((deadline, token) => _client.GetAsync(request, deadline: deadline, cancellationToken: token), ct).ConfigureAwait(false);
            if (revision == 0)
            {
                // Later pages read at the first page's revision: the whole list is one snapshot.
                revision = response.Header.Revision;
            }
            records.AddRange(response.Kvs.Select(ToRecord));
            if (!response.More || response.Kvs.Count == 0)
            {
                return new StoreList(records, revision);
            }
            var last = response.Kvs[^1].Key;
            byte[] after = new byte[last.Length + 1];
            last.CopyTo(after, 0);
            start = ByteString.CopyFrom(after);
        }
    }

    public async Task<long?> PutAsync(string key, ReadOnlyMemory<byte> value, long expectedRevision, long lease = 0, CancellationToken ct = default)
    {
        StoreKeys.CheckKey(key, nameof(key));
        StoreKeys.CheckPutRevision(expectedRevision, nameof(expectedRevision));
        ArgumentOutOfRangeException.ThrowIfNegative(lease);
        var k = ByteString.CopyFromUtf8(key);
        var put = new PutRequest { Key = k, Value = ByteString.CopyFrom(value.Span), Lease = lease };
        try
        {
            if (expectedRevision == Revision.Any)
            {
                var response = await CallAsync((deadline, token) => _client.PutAsync(put, deadline: deadline, cancellationToken: token), ct).ConfigureAwait(false);
                return response.Header.Revision;
            }
            var txn = new TxnRequest { Compare = { RevisionIs(k, expectedRevision) }, Success = { new RequestOp { RequestPut = put } } };
            var result = await CallAsync((deadline, token) => _client.TransactionAsync(txn, deadline: deadline, cancellationToken: token), ct).ConfigureAwait(false);
            return result.Succeeded ? result.Header.Revision : null;
        }
        catch (StoreException e) when (lease != 0 && e.InnerException is RpcException { StatusCode: StatusCode.NotFound })
        {
            throw new StoreLeaseNotFoundException(lease);
        }
    }

    public async Task<bool> DeleteAsync(string key, long expectedRevision, CancellationToken ct = default)
    {
        StoreKeys.CheckKey(key, nameof(key));
        StoreKeys.CheckDeleteRevision(expectedRevision, nameof(expectedRevision));
        var k = ByteString.CopyFromUtf8(key);
        var delete = new DeleteRangeRequest { Key = k };
        if (expectedRevision == Revision.Any)
        {
            var response = await CallAsync((deadline, token) => _client.DeleteAsync(delete, deadline: deadline, cancellationToken: token), ct).ConfigureAwait(false);
            return response.Deleted > 0;
        }
        var txn = new TxnRequest { Compare = { RevisionIs(k, expectedRevision) }, Success = { new RequestOp { RequestDeleteRange = delete } } };
        var result = await CallAsync((deadline, token) => _client.TransactionAsync(txn, deadline: deadline, cancellationToken: token), ct).ConfigureAwait(false);
        return result.Succeeded && result.Responses[0].ResponseDeleteRange.Deleted > 0;
    }

    /// <summary>
    /// See <see cref="IStore.WatchAsync"/>. A <paramref name="fromRevision"/> of 0 or less starts after the revision
    /// the watch is established at. Cancelling <paramref name="ct"/> ends the enumeration with
    /// <see cref="OperationCanceledException"/>, disposing the store with <see cref="ObjectDisposedException"/>; a
    /// stream that cannot be re-established within <see cref="EtcdStoreOptions.WatchReconnectTimeout"/> throws
    /// <see cref="StoreException"/>.
    /// </summary>
    public async IAsyncEnumerable<StoreEvent> WatchAsync(string prefix, long fromRevision, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var (start, end) = PrefixRange(prefix);
        long next = Math.Max(0, fromRevision); // 0 until the first stream tells the revision it started after
        long failingSince = 0;
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            ThrowIfDisposed();
            var stream = new WatchStream(this, start, end, next, ct);
            try
            {
                await stream.OpenAsync().ConfigureAwait(false);
                while (await stream.NextAsync().ConfigureAwait(false) is { } response)
                {
                    if (response.CompactRevision != 0)
                    {
                        throw new StoreCompactedException(next, response.CompactRevision);
                    }
                    if (response.Canceled)
                    {
                        stream.Broke(new StoreException($"{Description}: the server cancelled the watch of '{prefix}': {response.CancelReason}"));
                        break;
                    }
                    if (response.Created && next == 0)
                    {
                        next = response.Header.Revision + 1;
                    }
                    failingSince = 0;
                    backoff = TimeSpan.FromMilliseconds(100);
                    foreach (var change in response.Events)
                    {
                        next = change.Kv.ModRevision + 1;
                        yield return ToEvent(change);
                    }
                }
            }
            finally
            {
                stream.Dispose();
            }
            // The stream broke: re-establish it from the first revision not delivered yet.
            long now = Environment.TickCount64;
            if (failingSince == 0)
            {
                failingSince = now;
            }
            else if (now - failingSince > (long)_options.WatchReconnectTimeout.TotalMilliseconds)
            {
                throw new StoreException($"{Description}: the watch of '{prefix}' could not be re-established for {_options.WatchReconnectTimeout.TotalSeconds:0} s: {stream.Error?.Message}", stream.Error);
            }
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _disposing.Token))
            {
                try
                {
                    await Task.Delay(backoff, linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    ThrowIfDisposed();
                    throw;
                }
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
        }
    }

    /// <summary>One watch stream: <see cref="NextAsync"/> returns null when the stream broke and may be re-established (see <see cref="Error"/>).</summary>
    private sealed class WatchStream(EtcdStore store, ByteString start, ByteString end, long from, CancellationToken ct) : IDisposable
    {
        private readonly CancellationTokenSource _cancel = CancellationTokenSource.CreateLinkedTokenSource(ct, store._disposing.Token);
        private AsyncDuplexStreamingCall<WatchRequest, WatchResponse>? _call;

        public Exception? Error { get; private set; }

        public async Task OpenAsync()
        {
            try
            {
                _call = store._watchClient.Watch(cancellationToken: _cancel.Token);
                await _call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = start, RangeEnd = end, StartRevision = from },
                }, _cancel.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or IOException or InvalidOperationException or OperationCanceledException)
            {
                Fail(e);
            }
        }

        public async Task<WatchResponse?> NextAsync()
        {
            if (_call is null || Error is not null)
            {
                return null;
            }
            try
            {
                if (await _call.ResponseStream.MoveNext(_cancel.Token).ConfigureAwait(false))
                {
                    return _call.ResponseStream.Current;
                }
                Error = new StoreException($"{store.Description}: the watch stream ended");
            }
            catch (Exception e) when (e is RpcException or IOException or InvalidOperationException or OperationCanceledException)
            {
                Fail(e);
            }
            return null;
        }

        public void Broke(Exception error) => Error = error;

        private void Fail(Exception e)
        {
            ct.ThrowIfCancellationRequested();
            store.ThrowIfDisposed();
            if (e is RpcException { StatusCode: StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated or StatusCode.Unimplemented } rpc)
            {
                throw store.Failed(rpc);
            }
            Error = e;
        }

        public void Dispose()
        {
            _call?.Dispose();
            _cancel.Dispose();
        }
    }

    /// <summary>Grants a lease of <paramref name="ttl"/> rounded up to whole seconds; etcd may grant more (its minimum TTL, 2 s with default settings).</summary>
    public async Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default)
    {
        StoreKeys.CheckTtl(ttl, nameof(ttl));
        long seconds = Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds));
        var response = await CallAsync(
            (deadline, token) => _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = seconds }, deadline: deadline, cancellationToken: token),
            ct).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(response.Error))
        {
            throw new StoreException($"{Description}: lease grant failed: {response.Error}");
        }
        return response.ID;
    }

    public async Task<bool> KeepAliveAsync(long lease, CancellationToken ct = default)
    {
        var response = await CallAsync(async (deadline, token) =>
        {
            // One request on the keep-alive stream: renewal is the caller's loop, not a background one.
            using var call = _leaseClient.LeaseKeepAlive(deadline: deadline, cancellationToken: token);
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease }, token).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(token).ConfigureAwait(false))
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "the keep-alive stream ended without an answer"));
            }
            var answer = call.ResponseStream.Current;
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return answer;
        }, ct).ConfigureAwait(false);
        return response.TTL > 0;
    }

    /// <summary>Ends the lease now, deleting its records; a lease that has already ended is left alone.</summary>
    public async Task RevokeLeaseAsync(long lease, CancellationToken ct = default)
    {
        try
        {
            await CallAsync((deadline, token) => _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, deadline: deadline, cancellationToken: token), ct).ConfigureAwait(false);
        }
        catch (StoreException e) when (e.InnerException is RpcException { StatusCode: StatusCode.NotFound })
        {
            // Already ended.
        }
    }

    /// <summary>etcd's compact: drops the history before <paramref name="revision"/>.</summary>
    internal Task CompactAsync(long revision, CancellationToken ct = default) =>
        CallAsync((deadline, token) => _client.CompactAsync(new CompactionRequest { Revision = revision, Physical = true }, deadline: deadline, cancellationToken: token), ct);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _disposing.CancelAsync().ConfigureAwait(false);
        _client.Dispose();
        _channel.Dispose();
        _disposing.Dispose();
    }

    private async Task<T> CallAsync<T>(Func<DateTime, CancellationToken, Task<T>> call, CancellationToken ct)
    {
        ThrowIfDisposed();
        try
        {
            return await call(DateTime.UtcNow + _options.RequestTimeout, ct).ConfigureAwait(false);
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            throw Failed(e);
        }
        catch (RpcException e)
        {
            throw new OperationCanceledException("cancelled", e, ct);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested && _disposed == 0)
        {
            // The request deadline, surfacing as a cancellation: a store that did not answer, not a caller that gave up.
            throw new StoreException($"{Description}: no answer within {_options.RequestTimeout.TotalSeconds:0.#} s", e);
        }
    }

    private StoreException Failed(RpcException e) => new($"{Description}: {e.Status.StatusCode}: {e.Status.Detail}", e);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);

    private static Compare RevisionIs(ByteString key, long expectedRevision) => expectedRevision == Revision.Absent
        ? new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 }
        : new Compare { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = expectedRevision };

    /// <summary>[prefix, prefix+1); the empty prefix (or one of only 0xFF bytes) reaches to the end: etcd's range_end "\0".</summary>
    private static (ByteString Start, ByteString End) PrefixRange(string prefix)
    {
        byte[] start = StoreKeys.Encode(prefix);
        byte[]? end = StoreKeys.PrefixEnd(start);
        return (start.Length == 0 ? ByteString.CopyFrom(0) : ByteString.CopyFrom(start), end is null ? ByteString.CopyFrom(0) : ByteString.CopyFrom(end));
    }

    private static StoreRecord ToRecord(KeyValue kv) =>
        new(kv.Key.ToStringUtf8(), kv.Value.Memory, kv.ModRevision, kv.CreateRevision, kv.Lease);

    private static StoreEvent ToEvent(Event change) => change.Type == Event.Types.EventType.Delete
        ? new StoreEvent(StoreEventType.Delete, new StoreRecord(change.Kv.Key.ToStringUtf8(), ReadOnlyMemory<byte>.Empty, change.Kv.ModRevision, 0, 0))
        : new StoreEvent(StoreEventType.Put, ToRecord(change.Kv));
}
