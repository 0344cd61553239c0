using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Strata.Control.Apply;
using Strata.Control.Nodes;
using Strata.Control.Resources;
using Strata.Control.Store;
using Strata.State;

namespace Strata.Control.Api;

/// <summary>
/// The REST API (default 127.0.0.1:5656, the seed's openebs-apiservice port): resources in the Kubernetes style for the
/// CLI, and the node agents' endpoints. Its OpenAPI document is at /openapi/v1.json.
/// </summary>
internal static class ApiEndpoints
{
    public static void Map(WebApplication app, ControlPlaneServices services)
    {
        app.MapGet("/healthz", () => Results.Text("ok")).WithName("Health");
        app.MapGet("/version", () => Results.Json(new VersionInfo(ControlPlaneServices.Version, services.Store.Description))).WithName("Version");

        var api = app.MapGroup("/api/v1");
        api.MapPost("/apply", async (HttpRequest request, string? source, CancellationToken ct) =>
        {
            using var reader = new StreamReader(request.Body);
            string text = await reader.ReadToEndAsync(ct).ConfigureAwait(false);
            return Results.Json(await services.Apply.ApplyAsync(text, source ?? "manifest", ct).ConfigureAwait(false), ResourceJson.Options);
        }).WithName("Apply").Accepts<string>("application/yaml", "application/json", "text/plain");

        api.MapGet("/{plural}", async (string plural, string? @namespace, CancellationToken ct) =>
        {
            var kind = KindOf(plural);
            var list = await services.Store.ListAsync(@namespace is null || !kind.Namespaced ? kind.KeyPrefix : $"{kind.KeyPrefix}{@namespace}/", ct).ConfigureAwait(false);
            var items = new JsonArray();
            foreach (var record in list.Records)
            {
                items.Add(ToNode(ResourceStore.Decode(record, kind)));
            }

            return Results.Json(new JsonObject { ["revision"] = list.Revision, ["items"] = items }, ResourceJson.Options);
        }).WithName("List");

        api.MapGet("/{plural}/{name}", async (string plural, string name, string? @namespace, CancellationToken ct) =>
            Results.Json(ToNode(await GetAsync(services, plural, @namespace, name, ct).ConfigureAwait(false)), ResourceJson.Options)).WithName("Get");

        api.MapGet("/{plural}/{name}/events", async (string plural, string name, string? @namespace, CancellationToken ct) =>
        {
            var resource = await GetAsync(services, plural, @namespace, name, ct).ConfigureAwait(false);
            return Results.Json(await services.Events.ListAsync(resource, ct).ConfigureAwait(false), ResourceJson.Options);
        }).WithName("Events");

        api.MapGet("/{plural}/{name}/stats", async (string plural, string name, CancellationToken ct) =>
            KindOf(plural) == ResourceKind.Volume
                ? Results.Json(await VolumeStatsQuery.GetAsync(services, name, ct).ConfigureAwait(false), ResourceJson.Options)
                : throw ControlException.NotFound($"only persistentvolumes have stats, not {KindOf(plural).Plural}")).WithName("VolumeStats");

        api.MapDelete("/{plural}/{name}", async (string plural, string name, string? @namespace, CancellationToken ct) =>
            Results.Json(new JsonObject { ["message"] = await services.Apply.DeleteAsync(KindOf(plural), @namespace ?? "default", name, ct).ConfigureAwait(false) })).WithName("Delete");

        api.MapGet("/watch/{plural}", WatchAsync).WithName("Watch");

        var nodes = api.MapGroup("/nodes/{name}");
        nodes.MapPost("/register", (string name, NodeRegistration registration, CancellationToken ct) =>
            services.Nodes.RegisterAsync(name, registration, ct)).WithName("RegisterNode");
        nodes.MapPost("/heartbeat", async (string name, long lease, CancellationToken ct) =>
            await services.Nodes.HeartbeatAsync(name, lease, ct).ConfigureAwait(false) ? Results.Ok() : Results.StatusCode(StatusCodes.Status410Gone)).WithName("Heartbeat");
        nodes.MapPost("/deregister", async (string name, long lease, CancellationToken ct) =>
        {
            bool done = await services.Nodes.DeregisterAsync(name, lease, ct).ConfigureAwait(false);
            services.Wake();
            return done ? Results.Ok() : Results.StatusCode(StatusCodes.Status410Gone);
        }).WithName("Deregister");
        nodes.MapGet("/assignments", async (string name, long? since, int? wait, CancellationToken ct) =>
        {
            // A control plane that is stopping ends the long poll at once, with the assignments as they are: its
            // shutdown would otherwise wait out every node's poll.
            using var polling = CancellationTokenSource.CreateLinkedTokenSource(ct, app.Lifetime.ApplicationStopping);
            return await services.Nodes.AssignmentsAsync(name, since ?? 0, TimeSpan.FromSeconds(Math.Clamp(wait ?? 10, 0, 30)), polling.Token, ct).ConfigureAwait(false);
        }).WithName("Assignments");
        nodes.MapPut("/report", async (string name, NodeReport report, CancellationToken ct) =>
        {
            if (!await services.Nodes.ReportAsync(name, report, ct).ConfigureAwait(false))
            {
                return Results.StatusCode(StatusCodes.Status410Gone);
            }

            services.IoSamples.Record(name, report);

            services.Wake();
            return Results.Ok();
        }).WithName("Report");
        nodes.MapPost("/volumes/{volume}/epoch", async (string name, string volume, CancellationToken ct) =>
            await services.Membership.TakeEpochAsync(name, volume, ct).ConfigureAwait(false) is { } epoch
                ? Results.Json(epoch, ResourceJson.Options)
                : Results.Json(new JsonObject { ["error"] = $"volume {volume} is not served by node {name}" }, statusCode: StatusCodes.Status409Conflict)).WithName("TakeEpoch");
        nodes.MapPost("/volumes/{volume}/in-sync", async (string name, string volume, InSyncChange change, CancellationToken ct) =>
        {
            var result = await services.Membership.ChangeInSyncAsync(name, volume, change, ct).ConfigureAwait(false);
            services.Wake();
            return Results.Json(result, ResourceJson.Options);
        }).WithName("ChangeInSync");
        nodes.MapPost("/volumes/{volume}/rebuild-checkpoint", async (string name, string volume, RebuildCheckpointChange change, CancellationToken ct) =>
        {
            await services.Membership.SetRebuildCheckpointAsync(name, volume, change, ct).ConfigureAwait(false);
            return Results.Json(new JsonObject(), ResourceJson.Options);
        }).WithName("SetRebuildCheckpoint");
        nodes.MapPost("/finalize", async (string name, NodeFinalization finalization, CancellationToken ct) =>
            await services.Nodes.FinalizeAsync(name, finalization, ct).ConfigureAwait(false) ? Results.Ok() : Results.Conflict()).WithName("Finalize");
    }

    /// <summary>Streams changes of one kind as JSON lines ({"type":"ADDED|MODIFIED|DELETED","object":…}) from a revision, like kubectl get -w.</summary>
    private static async Task WatchAsync(HttpContext http, string plural, long since, ControlPlaneServices services)
    {
        var kind = KindOf(plural);
        // The stream ends when the client goes or the control plane stops (its shutdown would otherwise wait for it).
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted,
            http.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
        var ct = watching.Token;
        http.Response.ContentType = "application/x-ndjson";
        await http.Response.StartAsync(ct).ConfigureAwait(false);
        try
        {
            await foreach (var e in services.Store.WatchAsync(kind.KeyPrefix, since + 1, ct).ConfigureAwait(false))
            {
                JsonNode? obj = e.Type == StoreEventType.Delete
                    ? new JsonObject { ["kind"] = kind.Kind, ["key"] = e.Record.Key }
                    : ToNode(ResourceStore.Decode(e.Record, kind));
                string type = e.Type == StoreEventType.Delete ? "DELETED" : e.Record.CreateRevision == e.Record.Revision ? "ADDED" : "MODIFIED";
                var line = new JsonObject { ["type"] = type, ["revision"] = e.Record.Revision, ["object"] = obj };
                await http.Response.WriteAsync(line.ToJsonString() + "\n", ct).ConfigureAwait(false);
                await http.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal static ResourceKind KindOf(string name) =>
        ResourceKind.Find(name) ?? throw ControlException.NotFound($"the server doesn't have a resource type \"{name}\" (known: {string.Join(", ", ResourceKind.All.Select(k => $"{k.Plural} ({string.Join(", ", k.ShortNames.Take(1))})"))})");

    private static async Task<Resource> GetAsync(ControlPlaneServices services, string plural, string? ns, string name, CancellationToken ct)
    {
        var kind = KindOf(plural);
        return await services.Resources.GetAsync<Resource>(kind, ns ?? "default", name, ct).ConfigureAwait(false)
            ?? throw ControlException.NotFound($"{kind.Plural} \"{name}\" not found");
    }

    private static JsonNode ToNode(Resource r) => JsonSerializer.SerializeToNode(r, r.GetType(), ResourceJson.Options)!.WithRevision(r.Metadata.ResourceVersion);

    private static JsonNode WithRevision(this JsonNode node, long revision)
    {
        node["metadata"]!["resourceVersion"] = revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return node;
    }
}

public sealed record VersionInfo(string Version, string Store);
