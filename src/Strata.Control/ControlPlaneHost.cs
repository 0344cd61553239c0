using System.Net;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Strata.Control.Api;
using Strata.Control.Apply;
using Strata.State;

namespace Strata.Control;

public sealed class ControlPlaneOptions
{
    /// <summary>Where the REST API listens; port 0 picks a free port.</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 5656);

    /// <summary>The bearer token clients must send; required when <see cref="Listen"/> is not a loopback address.</summary>
    public string? Token { get; init; }

    public TimeSpan NodeLeaseTtl { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>How long a replica's node may be NotReady before the replica is replaced on another node (zero: never).</summary>
    public TimeSpan ReplaceReplicaAfter { get; init; } = Reconcile.ReplicaReplacement.DefaultAfter;

    public Action<string> Log { get; init; } = _ => { };
}

/// <summary>The control plane of one process: the REST API, the reconcile loop and the store watch behind the API's long-polls.</summary>
public sealed class ControlPlaneHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Task _changes;

    private ControlPlaneHost(WebApplication app, ControlPlaneServices services, Uri url)
    {
        _app = app;
        Services = services;
        Url = url;
        _loop = Task.Run(() => services.Loop.RunAsync(_stop.Token));
        _changes = Task.Run(() => services.Changes.RunAsync(_stop.Token));
    }

    public ControlPlaneServices Services { get; }

    /// <summary>The API's base address, e.g. http://127.0.0.1:5656.</summary>
    public Uri Url { get; }

    public static async Task<ControlPlaneHost> StartAsync(IStore store, ControlPlaneOptions options)
    {
        if (!IPAddress.IsLoopback(options.Listen.Address) && string.IsNullOrEmpty(options.Token))
        {
            throw new ArgumentException($"the API listens on {options.Listen}, beyond this machine: give it a bearer token (--token or STRATA_TOKEN)");
        }

        var services = new ControlPlaneServices(store, options.Log, options.NodeLeaseTtl, options.ReplaceReplicaAfter);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(options.Listen));
        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.PropertyNamingPolicy = ResourceJson.Options.PropertyNamingPolicy;
            j.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            j.SerializerOptions.TypeInfoResolver = ResourceJson.Options.TypeInfoResolver;
        });
        builder.Services.AddOpenApi();
        builder.Services.AddSingleton(services);
        var app = builder.Build();
        app.Use(async (http, next) =>
        {
            if (!string.IsNullOrEmpty(options.Token) && http.Request.Path != "/healthz"
                && http.Request.Headers.Authorization.ToString() != $"Bearer {options.Token}")
            {
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                await http.Response.WriteAsJsonAsync(new ApiError("missing or wrong bearer token (give --token or STRATA_TOKEN)")).ConfigureAwait(false);
                return;
            }

            try
            {
                await next(http).ConfigureAwait(false);
            }
            catch (ControlException e) when (!http.Response.HasStarted)
            {
                http.Response.StatusCode = e.Status;
                await http.Response.WriteAsJsonAsync(new ApiError(e.Message)).ConfigureAwait(false);
            }
            catch (BadHttpRequestException e) when (!http.Response.HasStarted)
            {
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
                await http.Response.WriteAsJsonAsync(new ApiError(e.Message)).ConfigureAwait(false);
            }
            catch (StoreException e) when (!http.Response.HasStarted)
            {
                http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await http.Response.WriteAsJsonAsync(new ApiError($"the state store is unavailable: {e.Message}")).ConfigureAwait(false);
            }
        });
        app.MapOpenApi();
        ApiEndpoints.Map(app, services);
        await app.StartAsync().ConfigureAwait(false);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ControlPlaneHost(app, services, new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_loop, _changes).ConfigureAwait(false);
        _stop.Dispose();
    }
}

public sealed record ApiError(string Error);
