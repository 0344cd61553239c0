using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Control.Nodes;

namespace Strata.Control.Api;

/// <summary>The REST API seen from the CLI and the node agents. Failures are <see cref="ControlClientException"/> with the server's one-line reason.</summary>
public sealed class ControlClient : IDisposable
{
    private readonly HttpClient _http;

    public ControlClient(Uri server, string? token = null, TimeSpan? timeout = null)
    {
        Server = server;
        _http = new HttpClient { BaseAddress = server, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri Server { get; }

    public Task<JsonNode> VersionAsync(CancellationToken ct = default) => SendAsync(HttpMethod.Get, "version", null, ct);

    public async Task<IReadOnlyList<string>> ApplyAsync(string manifest, string source, CancellationToken ct = default)
    {
        var result = await SendAsync(HttpMethod.Post, $"api/v1/apply?source={Uri.EscapeDataString(source)}", new StringContent(manifest, Encoding.UTF8, "application/yaml"), ct).ConfigureAwait(false);
        return result.AsArray().Select(o => $"{o!["kind"]}/{o["name"]} {o["action"]}").ToList();
    }

    public Task<JsonNode> ListAsync(string kind, string? ns = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"api/v1/{kind}{Namespace(ns, '?')}", null, ct);

    public Task<JsonNode> GetAsync(string kind, string name, string? ns = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"api/v1/{kind}/{Uri.EscapeDataString(name)}{Namespace(ns, '?')}", null, ct);

    public Task<JsonNode> EventsAsync(string kind, string name, string? ns = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"api/v1/{kind}/{Uri.EscapeDataString(name)}/events{Namespace(ns, '?')}", null, ct);

    public async Task<string> DeleteAsync(string kind, string name, string? ns = null, CancellationToken ct = default) =>
        (string)(await SendAsync(HttpMethod.Delete, $"api/v1/{kind}/{Uri.EscapeDataString(name)}{Namespace(ns, '?')}", null, ct).ConfigureAwait(false))["message"]!;

    /// <summary>A volume's target, replicas and I/O; 404 for an unknown volume, 409 when no target serving it has reported counters.</summary>
    public async Task<VolumeStats> VolumeStatsAsync(string name, CancellationToken ct = default) =>
        (await SendAsync(HttpMethod.Get, $"api/v1/persistentvolumes/{Uri.EscapeDataString(name)}/stats", null, ct).ConfigureAwait(false)).Deserialize<VolumeStats>(ResourceJson.Options)!;

    /// <summary>Changes of one kind after <paramref name="since"/>, as they happen, until cancelled.</summary>
    public async IAsyncEnumerable<JsonNode> WatchAsync(string kind, long since, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/v1/watch/{kind}?since={since}");
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            yield return JsonNode.Parse(line)!;
        }
    }

    // The node agent's calls.
    public async Task<NodeLease> RegisterAsync(string node, NodeRegistration registration, CancellationToken ct = default) =>
        (await SendAsync(HttpMethod.Post, $"api/v1/nodes/{node}/register", JsonContent.Create(registration, options: ResourceJson.Options), ct).ConfigureAwait(false)).Deserialize<NodeLease>(ResourceJson.Options)!;

    /// <summary>False when the node must register again.</summary>
    public async Task<bool> HeartbeatAsync(string node, long lease, CancellationToken ct = default) =>
        await TrySendAsync(HttpMethod.Post, $"api/v1/nodes/{node}/heartbeat?lease={lease}", null, ct).ConfigureAwait(false);

    /// <summary>Gives the node's lease back as it stops; false when it had lapsed already.</summary>
    public Task<bool> DeregisterAsync(string node, long lease, CancellationToken ct = default) =>
        TrySendAsync(HttpMethod.Post, $"api/v1/nodes/{node}/deregister?lease={lease}", null, ct);

    public async Task<NodeAssignments> AssignmentsAsync(string node, long since, int waitSeconds, CancellationToken ct = default) =>
        (await SendAsync(HttpMethod.Get, $"api/v1/nodes/{node}/assignments?since={since}&wait={waitSeconds}", null, ct).ConfigureAwait(false)).Deserialize<NodeAssignments>(ResourceJson.Options)!;

    /// <summary>False when the node must register again.</summary>
    public Task<bool> ReportAsync(string node, NodeReport report, CancellationToken ct = default) =>
        TrySendAsync(HttpMethod.Put, $"api/v1/nodes/{node}/report", JsonContent.Create(report, options: ResourceJson.Options), ct);

    public Task<bool> FinalizeAsync(string node, NodeFinalization finalization, CancellationToken ct = default) =>
        TrySendAsync(HttpMethod.Post, $"api/v1/nodes/{node}/finalize", JsonContent.Create(finalization, options: ResourceJson.Options), ct);

    /// <summary>Takes a new epoch for the target of <paramref name="volume"/> on <paramref name="node"/>; 409 when it is not served there.</summary>
    public async Task<VolumeEpoch> TakeEpochAsync(string node, string volume, CancellationToken ct = default) =>
        (await SendAsync(HttpMethod.Post, $"api/v1/nodes/{node}/volumes/{Uri.EscapeDataString(volume)}/epoch", null, ct).ConfigureAwait(false)).Deserialize<VolumeEpoch>(ResourceJson.Options)!;

    /// <summary>Compare-and-swap of a volume's in-sync set at an epoch; 409 when the epoch moved on (the caller is fenced).</summary>
    public async Task<InSyncResult> ChangeInSyncAsync(string node, string volume, InSyncChange change, CancellationToken ct = default) =>
        (await SendAsync(HttpMethod.Post, $"api/v1/nodes/{node}/volumes/{Uri.EscapeDataString(volume)}/in-sync", JsonContent.Create(change, options: ResourceJson.Options), ct).ConfigureAwait(false)).Deserialize<InSyncResult>(ResourceJson.Options)!;

    public async Task SetRebuildCheckpointAsync(string node, string volume, RebuildCheckpointChange change, CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Post, $"api/v1/nodes/{node}/volumes/{Uri.EscapeDataString(volume)}/rebuild-checkpoint", JsonContent.Create(change, options: ResourceJson.Options), ct).ConfigureAwait(false);

    public void Dispose() => _http.Dispose();

    private static string Namespace(string? ns, char separator) => ns is null ? "" : $"{separator}namespace={Uri.EscapeDataString(ns)}";

    private async Task<bool> TrySendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e);
        }

        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Gone or HttpStatusCode.Conflict)
            {
                return false;
            }

            await ThrowIfFailedAsync(response, ct).ConfigureAwait(false);
            return true;
        }
    }

    private async Task<JsonNode> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false))!;
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new ControlClientException(0, $"the control plane at {Server} did not answer in time", e);
        }

        try
        {
            await ThrowIfFailedAsync(response, ct).ConfigureAwait(false);
        }
        catch
        {
            response.Dispose();
            throw;
        }

        return response;
    }

    private ControlClientException Unreachable(HttpRequestException e) =>
        new(0, $"cannot reach the control plane at {Server}: {e.Message} (is `strata up` or `strata control` running? --server or STRATA_SERVER say where)", e);

    private static async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        string body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string message;
        try
        {
            message = JsonNode.Parse(body)?["error"]?.GetValue<string>() ?? body;
        }
        catch (JsonException)
        {
            message = body;
        }

        throw new ControlClientException((int)response.StatusCode, string.IsNullOrWhiteSpace(message) ? $"the control plane answered {(int)response.StatusCode} {response.ReasonPhrase}" : message);
    }
}

public sealed class ControlClientException(int status, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The HTTP status, or 0 when the server was not reached.</summary>
    public int Status { get; } = status;
}
