using System.Net;
using System.Text;

namespace Strata.Iscsi.Login;

/// <summary>
/// The target's side of one connection's login phase (RFC 7143 6.3, 11.12, 11.13): feed it every Login
/// Request PDU with <see cref="Process"/> and send back the Login Response it returns. It drives the
/// stages (CSG/NSG, T bit), the text continuation (C bit) both ways, AuthMethod and CHAP, and the
/// operational keys, and fills <see cref="Parameters"/>.
/// </summary>
public sealed class LoginNegotiator
{
    /// <summary>Login PDUs carry at most 8192 bytes of data (the RFC 7143 13.12 default, in force during login).</summary>
    public const int LoginDataSegmentLimit = 8192;

    /// <summary>
    /// Most bytes of text one login request may assemble with C=1. RFC 7143 6.1 asks for at least 8192,
    /// and 64 KiB when authentication needs long items.
    /// </summary>
    public const int MaxLoginTextLength = 65536;

    private readonly ITargetCatalog _catalog;
    private readonly IPEndPoint _initiatorEndPoint;
    private readonly TargetNegotiationLimits _limits;
    private readonly ushort _targetPortalGroupTag;
    private readonly InboundTextAssembler _inbound = new(MaxLoginTextLength);
    private readonly OutboundTextSplitter _outbound = new();
    private readonly KeyValueBuilder _response = new();
    private readonly List<TextKeyValue> _pairs = [];
    private readonly Dictionary<string, string> _sent = new(StringComparer.Ordinal);
    private LoginStage? _stage;
    private bool _identified;
    private bool _declaredOperational;
    private SecurityNegotiation? _security;
    private OperationalNegotiator? _operational;
    private (bool Transit, LoginStage Current, LoginStage Next) _pending;
    private LoginResponse _failure;

    public LoginNegotiator(ITargetCatalog catalog, IPEndPoint initiatorEndPoint, TargetNegotiationLimits limits, ushort targetPortalGroupTag)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(initiatorEndPoint);
        ArgumentNullException.ThrowIfNull(limits);
        _catalog = catalog;
        _initiatorEndPoint = initiatorEndPoint;
        _limits = limits;
        _targetPortalGroupTag = targetPortalGroupTag;
    }

    /// <summary>The last response moved to the full feature phase with Success.</summary>
    public bool Completed { get; private set; }

    /// <summary>The last response had a non-success status: the transport sends it and closes the connection.</summary>
    public bool Failed { get; private set; }

    /// <summary>Why the login failed, for the log; never sent to the initiator.</summary>
    public string? FailureReason { get; private set; }

    public NegotiatedParameters Parameters { get; } = new();

    /// <summary>Normal sessions: the target logged in to.</summary>
    public TargetLoginPolicy? Target { get; private set; }

    /// <summary>False when the first request carried a TSIH: a connection joining an existing session.</summary>
    public bool IsLeadingConnection { get; private set; } = true;

    /// <summary>The stage the next request must be in.</summary>
    public LoginStage CurrentStage => _stage ?? LoginStage.SecurityNegotiation;

    /// <summary>The CHAP algorithm the initiator authenticated with, when it did.</summary>
    public ChapAlgorithm? AuthenticatedWith => _security is { Authenticated: true } ? _security.Algorithm : null;

    public LoginResponse Process(in LoginRequest request)
    {
        if (Failed)
        {
            return _failure;
        }

        try
        {
            if (Completed)
            {
                throw LoginFailedException.InitiatorError("a Login Request after the login completed");
            }

            return ProcessCore(request);
        }
        catch (LoginFailedException e)
        {
            return Fail(e.Status, e.Message, request.CurrentStage);
        }
#pragma warning disable CA1031 // Process must answer every PDU: a bug here becomes Target Error, not a dead connection task.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return Fail(LoginStatus.TargetError, "internal error: " + e.Message, request.CurrentStage);
        }
    }

    /// <summary>A negotiator for the Text Requests of the full feature phase that follows this login.</summary>
    public FullFeatureTextNegotiator CreateFullFeatureTextNegotiator()
    {
        if (!Completed)
        {
            throw new InvalidOperationException("the login has not completed");
        }

        return new FullFeatureTextNegotiator(_catalog, Parameters, Target, _initiatorEndPoint);
    }

    private LoginResponse ProcessCore(in LoginRequest request)
    {
        // RFC 7143 11.12.4: 0x00 is the only version.
        if (request.VersionMin > 0)
        {
            throw new LoginFailedException(LoginStatus.UnsupportedVersion, $"versions {request.VersionMin}..{request.VersionMax} exclude 0");
        }

        CheckStages(request);

        if (_outbound.HasPending)
        {
            // RFC 7143 11.13.2: after a response with C=1 the initiator fetches the rest with empty requests.
            if (!request.Text.IsEmpty || request.Continue)
            {
                throw LoginFailedException.InitiatorError("text sent while the target's response was being continued");
            }

            return NextPiece();
        }

        _inbound.Append(request.Text.Span);
        if (request.Continue)
        {
            // RFC 7143 11.12.2: the rest of the text follows; acknowledge with an empty response.
            return new LoginResponse(false, false, CurrentStage, request.NextStage, LoginStatus.Success, ReadOnlyMemory<byte>.Empty);
        }

        _pairs.Clear();
        TextFormatError error = KeyValueParser.Parse(_inbound.Take(), _pairs);
        if (error != TextFormatError.None)
        {
            throw LoginFailedException.InitiatorError($"malformed text: {error}");
        }

        CheckRedeclarations();
        _response.Clear();
        if (_identified)
        {
            CheckLateDeclarations();
        }
        else
        {
            Identify(request.Tsih);
        }

        bool ready = CurrentStage == LoginStage.SecurityNegotiation
            ? ProcessSecurityStage(request.Transit)
            : ProcessOperationalStage(request.Transit);

        // RFC 7143 11.13.3: never T=1 unless the initiator asked, and then only to the stage it asked for.
        _pending = (request.Transit && ready, CurrentStage, request.NextStage);
        _outbound.Start(_response.ToArray());
        return NextPiece();
    }

    private void CheckStages(in LoginRequest request)
    {
        LoginStage current = request.CurrentStage;
        if (current is not (LoginStage.SecurityNegotiation or LoginStage.LoginOperationalNegotiation))
        {
            throw LoginFailedException.InitiatorError($"CSG {(int)current} is not a login stage");
        }

        if (request.Transit && request.Continue)
        {
            throw LoginFailedException.InitiatorError("C=1 with T=1 (RFC 7143 11.12.2)");
        }

        if (request.Transit)
        {
            // RFC 7143 6.3, 11.12.3: from security to operational or full feature, from operational to full feature.
            bool valid = request.NextStage == LoginStage.FullFeaturePhase
                || (request.NextStage == LoginStage.LoginOperationalNegotiation && current == LoginStage.SecurityNegotiation);
            if (!valid)
            {
                throw LoginFailedException.InitiatorError($"NSG {(int)request.NextStage} is not a valid next stage from CSG {(int)current}");
            }
        }

        if (_stage is null)
        {
            _stage = current;
        }
        else if (current != _stage)
        {
            throw LoginFailedException.InitiatorError($"CSG {(int)current} but the login is in stage {(int)_stage}");
        }
    }

    /// <summary>
    /// RFC 7143 6.2: a key may not be sent twice in one negotiation. The same key twice in one request, or
    /// again later with another value, is an initiator error. The same key and value again in a later
    /// request is taken as a harmless repetition (libiscsi re-sends its names in the first request of the
    /// operational stage) and answered again the same way.
    /// </summary>
    private void CheckRedeclarations()
    {
        var inThisRequest = new HashSet<string>(StringComparer.Ordinal);
        foreach (TextKeyValue pair in _pairs)
        {
            if (!inThisRequest.Add(pair.Key))
            {
                throw LoginFailedException.InitiatorError($"{pair.Key} appears twice in one request");
            }

            if (_sent.TryGetValue(pair.Key, out string? earlier))
            {
                if (!string.Equals(earlier, pair.Value, StringComparison.Ordinal))
                {
                    throw LoginFailedException.InitiatorError($"{pair.Key} renegotiated from {earlier} to {pair.Value}");
                }
            }
            else
            {
                _sent[pair.Key] = pair.Value;
            }
        }
    }

    /// <summary>The first request: who is logging in, to what, in which kind of session, and may it.</summary>
    private void Identify(ushort tsih)
    {
        _identified = true;
        string initiatorName = Find(TextKeys.InitiatorName)
            ?? throw new LoginFailedException(LoginStatus.MissingParameter, "the first request has no InitiatorName");
        if (initiatorName.Length == 0 || Encoding.UTF8.GetByteCount(initiatorName) > TextKeys.MaxIscsiNameLength)
        {
            throw LoginFailedException.InitiatorError("InitiatorName is empty or longer than 223 bytes");
        }

        Parameters.InitiatorName = initiatorName;
        Parameters.InitiatorAlias = Find(TextKeys.InitiatorAlias);
        Parameters.SessionType = ParseSessionType(Find(TextKeys.SessionType));
        IsLeadingConnection = tsih == 0;

        ChapCredentials? required;
        ChapCredentials? mutual;
        if (Parameters.SessionType == SessionType.Normal)
        {
            string targetName = Find(TextKeys.TargetName)
                ?? throw new LoginFailedException(LoginStatus.MissingParameter, "a normal session needs TargetName");
            TargetLoginPolicy target = _catalog.Find(targetName)
                ?? throw new LoginFailedException(LoginStatus.NotFound, $"no target {targetName}");
            if (!InitiatorAcl.Allows(target, initiatorName, _initiatorEndPoint.Address))
            {
                throw new LoginFailedException(LoginStatus.AuthorizationFailure, $"{initiatorName} at {_initiatorEndPoint.Address} may not log in to {target.Name}");
            }

            Target = target;
            Parameters.TargetName = target.Name;
            required = target.Chap;
            mutual = target.MutualChap;
        }
        else
        {
            required = _catalog.DiscoveryChap;
            mutual = _catalog.DiscoveryMutualChap;
        }

        _security = new SecurityNegotiation(required, mutual);
        _operational = new OperationalNegotiator(_limits, Parameters, Parameters.SessionType, IsLeadingConnection);
        if (CurrentStage != LoginStage.SecurityNegotiation && _security.Required)
        {
            throw LoginFailedException.AuthenticationFailure("CHAP is required but the initiator skipped the security stage");
        }

        if (Parameters.SessionType == SessionType.Normal)
        {
            // RFC 7143 13.9: the target declares its portal group tag in its first Login Response.
            _response.Add(TextKeys.TargetPortalGroupTag, _targetPortalGroupTag);
            if (Target!.Alias is { Length: > 0 } alias)
            {
                _response.Add(TextKeys.TargetAlias, alias);
            }
        }
    }

    /// <summary>Names and SessionType belong in the first request; later they may only repeat it.</summary>
    private void CheckLateDeclarations()
    {
        string? sessionType = Find(TextKeys.SessionType);
        if (sessionType is not null && ParseSessionType(sessionType) != Parameters.SessionType)
        {
            throw LoginFailedException.InitiatorError("SessionType changed after the first request");
        }

        if (Find(TextKeys.InitiatorAlias) is { } alias)
        {
            Parameters.InitiatorAlias = alias;
        }
    }

    private static SessionType ParseSessionType(string? value) => value switch
    {
        null or "Normal" => SessionType.Normal,
        "Discovery" => SessionType.Discovery,
        _ => throw new LoginFailedException(LoginStatus.SessionTypeNotSupported, $"SessionType={value}"),
    };

    private bool ProcessSecurityStage(bool transit)
    {
        var security = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (TextKeyValue pair in _pairs)
        {
            if (IsLoginDeclaration(pair.Key))
            {
                continue;
            }

            if (TextKeys.IsSecurityKey(pair.Key))
            {
                security[pair.Key] = pair.Value;
                continue;
            }

            if (!TextKeys.TryGet(pair.Key, out TextKey key))
            {
                _response.Add(pair.Key, ReservedValue.NotUnderstood);
                continue;
            }

            if (key.Kind == KeyKind.SendTargets)
            {
                _response.Add(pair.Key, ReservedValue.Irrelevant);
                continue;
            }

            // RFC 7143 13: only the declarative Any-Stage keys may appear in the security stage; the
            // operational keys wait for the operational stage (Linux LIO refuses them the same way).
            throw LoginFailedException.InitiatorError($"{pair.Key} is not allowed in the security stage");
        }

        _security!.Process(security, transit, _response);
        return _security.Authenticated;
    }

    private bool ProcessOperationalStage(bool transit)
    {
        OperationalNegotiator operational = _operational!;
        if (!_declaredOperational)
        {
            operational.DeclareTargetValues(_response);
            _declaredOperational = true;
        }

        foreach (TextKeyValue pair in _pairs.OrderBy(p => OperationalNegotiator.Precedence(p.Key)))
        {
            if (IsLoginDeclaration(pair.Key) || operational.TryAcceptReply(pair))
            {
                continue;
            }

            operational.Answer(pair, _response);
        }

        if (!transit)
        {
            return false;
        }

        if (operational.AwaitingReplies)
        {
            // RFC 7143 6.2: every offer gets an answer; leaving ours unanswered would leave both sides unsure.
            throw LoginFailedException.InitiatorError("the initiator left the target's offers unanswered");
        }

        // Offering keeps T=0: a response with T=1 may not carry keys that need an answer (RFC 7143 11.13.3).
        return !operational.OfferMissing(_response);
    }

    private static bool IsLoginDeclaration(string key) =>
        key is TextKeys.InitiatorName or TextKeys.TargetName or TextKeys.SessionType or TextKeys.InitiatorAlias;

    private string? Find(string key)
    {
        foreach (TextKeyValue pair in _pairs)
        {
            if (pair.Key == key)
            {
                return pair.Value;
            }
        }

        return null;
    }

    private LoginResponse NextPiece()
    {
        ReadOnlyMemory<byte> piece = _outbound.Next(LoginDataSegmentLimit, out bool more);
        if (more)
        {
            return new LoginResponse(false, true, _pending.Current, _pending.Next, LoginStatus.Success, piece);
        }

        if (_pending.Transit)
        {
            if (_pending.Next == LoginStage.FullFeaturePhase)
            {
                _operational?.Complete();
                Completed = true;
            }
            else
            {
                _stage = _pending.Next;
            }
        }

        return new LoginResponse(_pending.Transit, false, _pending.Current, _pending.Next, LoginStatus.Success, piece);
    }

    private LoginResponse Fail(LoginStatus status, string reason, LoginStage stage)
    {
        Failed = true;
        FailureReason = reason;
        LoginStage current = stage is LoginStage.SecurityNegotiation or LoginStage.LoginOperationalNegotiation
            ? stage
            : LoginStage.SecurityNegotiation;
        _failure = new LoginResponse(false, false, current, current, status, ReadOnlyMemory<byte>.Empty);
        return _failure;
    }
}
