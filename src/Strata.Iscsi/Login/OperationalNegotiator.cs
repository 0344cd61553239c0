namespace Strata.Iscsi.Login;

/// <summary>
/// Negotiates the operational keys of one login (RFC 7143 6.2, section 13, RFC 7144) as the target:
/// answers the initiator's offers by each key's result function, offers what the initiator left at an
/// RFC default we do not want, takes the initiator's replies to those offers, and fills
/// <see cref="NegotiatedParameters"/>.
/// </summary>
public sealed class OperationalNegotiator
{
    /// <summary>RFC 7143 13.14, 13.13: defaults used to decide whether an offer of ours is worth a round trip.</summary>
    private const int DefaultMaxBurstLength = 262144;
    private const int DefaultFirstBurstLength = 65536;

    /// <summary>We implement RFC 7143 (iSCSIProtocolLevel 1), not the RFC 7144 additions of level 2.</summary>
    private const int SupportedProtocolLevel = 1;

    private const string Crc32C = "CRC32C";
    private const string Rfc3720TaskReporting = "RFC3720";

    private readonly TargetNegotiationLimits _limits;
    private readonly NegotiatedParameters _parameters;
    private readonly HashSet<string> _agreed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _offered = new(StringComparer.Ordinal);

    public OperationalNegotiator(TargetNegotiationLimits limits, NegotiatedParameters parameters, SessionType sessionType, bool leadingConnection)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(parameters);
        _limits = limits;
        _parameters = parameters;
        SessionType = sessionType;
        LeadingConnection = leadingConnection;
    }

    public SessionType SessionType { get; }

    /// <summary>False for a connection added to an existing session (TSIH != 0): LO keys are irrelevant there.</summary>
    public bool LeadingConnection { get; }

    /// <summary>We offered keys the initiator has not answered yet: the target must not transit (RFC 7143 11.13.3).</summary>
    public bool AwaitingReplies => _offered.Count > 0;

    private int OurMaxBurstLength => Math.Clamp(_limits.MaxBurstLength, TextKeys.MinDataLength, TextKeys.MaxDataLength);

    private int OurFirstBurstLength => Math.Clamp(_limits.FirstBurstLength, TextKeys.MinDataLength, OurMaxBurstLength);

    private int OurMaxRecvDataSegmentLength => Math.Clamp(_limits.MaxRecvDataSegmentLength, TextKeys.MinDataLength, TextKeys.MaxDataLength);

    /// <summary>
    /// Our MaxRecvDataSegmentLength, declared in the first response of the operational stage of every
    /// connection (RFC 7143 13.12: each side declares its own; the RFC default of 8192 is too small).
    /// </summary>
    public void DeclareTargetValues(KeyValueBuilder response)
    {
        ArgumentNullException.ThrowIfNull(response);
        _parameters.TargetMaxRecvDataSegmentLength = OurMaxRecvDataSegmentLength;
        response.Add(TextKeys.MaxRecvDataSegmentLength, _parameters.TargetMaxRecvDataSegmentLength);
    }

    /// <summary>
    /// When <paramref name="pair"/> answers a key we offered, takes it and returns true. A reply that
    /// breaks the key's result function (e.g. a larger MaxBurstLength than we offered) fails the login.
    /// </summary>
    public bool TryAcceptReply(in TextKeyValue pair)
    {
        if (!_offered.Remove(pair.Key, out string? ours))
        {
            return false;
        }

        _agreed.Add(pair.Key);
        if (ReservedValue.IsReserved(pair.Value))
        {
            // RFC 7143 6.2: a Reject, Irrelevant or NotUnderstood answer leaves the key at its default.
            return true;
        }

        TextKeys.TryGet(pair.Key, out TextKey key);
        if (key.Kind == KeyKind.Boolean)
        {
            if (!BooleanValue.TryParse(pair.Value, out bool reply))
            {
                throw LoginFailedException.InitiatorError($"{pair.Key}={pair.Value} is not a boolean answer");
            }

            bool offered = ours == BooleanValue.Yes;
            // RFC 7143 6.2.2: AND only lets a Yes offer become No; OR only lets a No offer become Yes.
            bool admissible = key.Result == ResultFunction.And ? offered || !reply : !offered || reply;
            if (!admissible)
            {
                throw LoginFailedException.InitiatorError($"{pair.Key}={pair.Value} breaks the {key.Result} result function of our offer {ours}");
            }

            ApplyBoolean(key.Name, reply);
            return true;
        }

        if (!NumericalValue.TryParse(pair.Value, key.Min, key.Max, out long value))
        {
            throw LoginFailedException.InitiatorError($"{pair.Key}={pair.Value} is out of range");
        }

        long ourValue = long.Parse(ours, System.Globalization.CultureInfo.InvariantCulture);
        bool inBounds = key.Result == ResultFunction.Minimum ? value <= ourValue : value >= ourValue;
        if (!inBounds)
        {
            throw LoginFailedException.InitiatorError($"{pair.Key}={pair.Value} breaks the {key.Result} result function of our offer {ours}");
        }

        ApplyNumber(key.Name, value);
        return true;
    }

    /// <summary>
    /// Answers one key the initiator offered or declared in the operational stage. Unknown and vendor keys
    /// get NotUnderstood, inadmissible values Reject, keys that do not apply Irrelevant (RFC 7143 6.2);
    /// keys that may not come from an initiator here fail the login (InitiatorError).
    /// </summary>
    public void Answer(in TextKeyValue offer, KeyValueBuilder response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (!TextKeys.TryGet(offer.Key, out TextKey key))
        {
            // RFC 7143 6.2, 13.22: unknown keys, X- and X# vendor keys.
            response.Add(offer.Key, ReservedValue.NotUnderstood);
            return;
        }

        if (key.Sender == KeySender.Target)
        {
            throw LoginFailedException.InitiatorError($"{offer.Key} may only be sent by a target");
        }

        if (key.Kind == KeyKind.Security)
        {
            throw LoginFailedException.InitiatorError($"{offer.Key} is a security key outside the security stage");
        }

        if (key.Kind == KeyKind.SendTargets)
        {
            // RFC 7143 13.3: SendTargets is full-feature-phase only.
            response.Add(offer.Key, ReservedValue.Irrelevant);
            return;
        }

        if (offer.Value.Length > key.MaxValueLength)
        {
            response.Add(offer.Key, ReservedValue.Reject);
            return;
        }

        if (key.Name == TextKeys.MaxRecvDataSegmentLength)
        {
            // Declarative: no answer. We cannot send anything safely to an initiator whose receive limit
            // we do not know, so a value out of 512..2^24-1 fails the login.
            if (!NumericalValue.TryParse(offer.Value, key.Min, key.Max, out long declared))
            {
                throw LoginFailedException.InitiatorError($"MaxRecvDataSegmentLength={offer.Value} is outside {key.Min}..{key.Max}");
            }

            _parameters.InitiatorMaxRecvDataSegmentLength = (int)declared;
            return;
        }

        if (key.Kind == KeyKind.Declarative)
        {
            // Names, aliases and SessionType are the login negotiator's; nothing to answer here.
            return;
        }

        if (key.Use == KeyUse.LeadingOnly && !LeadingConnection)
        {
            // RFC 7143 13: LO keys are negotiated on the leading connection only.
            response.Add(offer.Key, ReservedValue.Irrelevant);
            return;
        }

        if (key.IrrelevantInDiscovery && SessionType == SessionType.Discovery)
        {
            response.Add(offer.Key, ReservedValue.Irrelevant);
            return;
        }

        _offered.Remove(key.Name); // the initiator offered it too: its offer wins, we answer it.
        _agreed.Add(key.Name);
        response.Add(offer.Key, Select(key, offer.Value));
    }

    /// <summary>
    /// Offers the keys the initiator left at an RFC default we do not want (normal sessions, leading
    /// connection): InitialR2T, ImmediateData, MaxBurstLength, FirstBurstLength. Only keys whose value we
    /// want differs from the default are offered, each at most once. Returns true when something was
    /// offered: the response must then keep T=0 until the initiator answers (RFC 7143 11.13.3).
    /// </summary>
    public bool OfferMissing(KeyValueBuilder response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (SessionType != SessionType.Normal || !LeadingConnection)
        {
            return false;
        }

        int before = _offered.Count;
        if (!_agreed.Contains(TextKeys.InitialR2T) && !_limits.InitialR2T)
        {
            Offer(response, TextKeys.InitialR2T, BooleanValue.No);
        }

        if (!_agreed.Contains(TextKeys.ImmediateData) && !_limits.ImmediateData)
        {
            Offer(response, TextKeys.ImmediateData, BooleanValue.No);
        }

        int maxBurst = _parameters.MaxBurstLength;
        if (!_agreed.Contains(TextKeys.MaxBurstLength) && OurMaxBurstLength != DefaultMaxBurstLength)
        {
            maxBurst = OurMaxBurstLength;
            Offer(response, TextKeys.MaxBurstLength, maxBurst.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        // RFC 7143 13.14: FirstBurstLength is irrelevant when InitialR2T=Yes and ImmediateData=No are settled.
        bool firstBurstIrrelevant = _agreed.Contains(TextKeys.InitialR2T) && _parameters.InitialR2T
            && _agreed.Contains(TextKeys.ImmediateData) && !_parameters.ImmediateData;
        int firstBurst = Math.Min(OurFirstBurstLength, maxBurst);
        if (!_agreed.Contains(TextKeys.FirstBurstLength) && !firstBurstIrrelevant && firstBurst != DefaultFirstBurstLength)
        {
            Offer(response, TextKeys.FirstBurstLength, firstBurst.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return _offered.Count > before;
    }

    /// <summary>Settles cross-key rules when the login ends: FirstBurstLength never exceeds MaxBurstLength (RFC 7143 13.14).</summary>
    public void Complete()
    {
        if (_parameters.FirstBurstLength > _parameters.MaxBurstLength)
        {
            _parameters.FirstBurstLength = _parameters.MaxBurstLength;
        }
    }

    /// <summary>
    /// Processing order inside one request: the keys others depend on first (FirstBurstLength depends on
    /// InitialR2T, ImmediateData and MaxBurstLength), the rest as sent.
    /// </summary>
    public static int Precedence(string key) => key switch
    {
        TextKeys.InitialR2T or TextKeys.ImmediateData or TextKeys.MaxBurstLength => 0,
        _ => 1,
    };

    private void Offer(KeyValueBuilder response, string key, string value)
    {
        if (_offered.ContainsKey(key))
        {
            return;
        }

        _offered[key] = value;
        response.Add(key, value);
    }

    private string Select(TextKey key, string offered)
    {
        switch (key.Kind)
        {
            case KeyKind.Obsolete:
                // RFC 7143 13.25: markers are gone; answer "No" to the booleans (allowed, and what older
                // initiators expect from the AND function) and Reject to the intervals.
                return key.Name is TextKeys.OfMarker or TextKeys.IfMarker ? BooleanValue.No : ReservedValue.Reject;

            case KeyKind.List:
                return SelectFromList(key, offered);

            case KeyKind.Boolean:
                if (!BooleanValue.TryParse(offered, out bool theirs))
                {
                    return ReservedValue.Reject;
                }

                bool ours = OurBoolean(key.Name);
                bool result = key.Result == ResultFunction.And ? theirs && ours : theirs || ours;
                ApplyBoolean(key.Name, result);
                return BooleanValue.Format(result);

            case KeyKind.Numerical:
                if (!NumericalValue.TryParse(offered, key.Min, key.Max, out long number))
                {
                    return ReservedValue.Reject;
                }

                long mine = OurNumber(key.Name);
                long chosen = key.Result == ResultFunction.Maximum ? Math.Max(number, mine) : Math.Min(number, mine);
                if (key.Name == TextKeys.FirstBurstLength && IsFirstBurstIrrelevant())
                {
                    return ReservedValue.Irrelevant;
                }

                ApplyNumber(key.Name, chosen);
                return chosen.ToString(System.Globalization.CultureInfo.InvariantCulture);

            default:
                return ReservedValue.Reject;
        }
    }

    private bool IsFirstBurstIrrelevant() =>
        _agreed.Contains(TextKeys.InitialR2T) && _parameters.InitialR2T
        && _agreed.Contains(TextKeys.ImmediateData) && !_parameters.ImmediateData;

    private string SelectFromList(TextKey key, string offered)
    {
        // RFC 7143 6.2.1: the first value of the proposer's list that the acceptor supports.
        foreach (string item in ListValue.Split(offered))
        {
            switch (key.Name)
            {
                case TextKeys.HeaderDigest or TextKeys.DataDigest when item is Crc32C or ReservedValue.None:
                    bool crc = item == Crc32C;
                    if (key.Name == TextKeys.HeaderDigest)
                    {
                        _parameters.HeaderDigest = crc;
                    }
                    else
                    {
                        _parameters.DataDigest = crc;
                    }

                    return item;

                case TextKeys.TaskReporting when item == Rfc3720TaskReporting:
                    // RFC 7144 13.2: we implement neither ResponseFence nor FastAbort.
                    return item;
            }
        }

        return ReservedValue.Reject;
    }

    private bool OurBoolean(string key) => key switch
    {
        TextKeys.InitialR2T => _limits.InitialR2T,
        TextKeys.ImmediateData => _limits.ImmediateData,
        // In-order data is all the transport implements; OR lets us insist on Yes.
        TextKeys.DataPduInOrder or TextKeys.DataSequenceInOrder => true,
        _ => throw new ArgumentOutOfRangeException(nameof(key), key, "not a boolean key"),
    };

    private long OurNumber(string key) => key switch
    {
        TextKeys.MaxConnections => Math.Clamp(_limits.MaxConnections, 1, 65535),
        TextKeys.MaxBurstLength => OurMaxBurstLength,
        TextKeys.FirstBurstLength => Math.Min(OurFirstBurstLength, _parameters.MaxBurstLength),
        TextKeys.DefaultTime2Wait => Math.Clamp(_limits.DefaultTime2Wait, 0, 3600),
        TextKeys.DefaultTime2Retain => Math.Clamp(_limits.DefaultTime2Retain, 0, 3600),
        TextKeys.MaxOutstandingR2T => Math.Clamp(_limits.MaxOutstandingR2T, 1, 65535),
        TextKeys.ErrorRecoveryLevel => Math.Clamp(_limits.ErrorRecoveryLevel, 0, 2),
        TextKeys.IscsiProtocolLevel => SupportedProtocolLevel,
        _ => throw new ArgumentOutOfRangeException(nameof(key), key, "not a numerical key"),
    };

    private void ApplyBoolean(string key, bool value)
    {
        switch (key)
        {
            case TextKeys.InitialR2T: _parameters.InitialR2T = value; break;
            case TextKeys.ImmediateData: _parameters.ImmediateData = value; break;
            case TextKeys.DataPduInOrder: _parameters.DataPduInOrder = value; break;
            case TextKeys.DataSequenceInOrder: _parameters.DataSequenceInOrder = value; break;
        }
    }

    private void ApplyNumber(string key, long value)
    {
        int v = (int)value;
        switch (key)
        {
            case TextKeys.MaxConnections: _parameters.MaxConnections = v; break;
            case TextKeys.MaxBurstLength: _parameters.MaxBurstLength = v; break;
            case TextKeys.FirstBurstLength: _parameters.FirstBurstLength = v; break;
            case TextKeys.DefaultTime2Wait: _parameters.DefaultTime2Wait = v; break;
            case TextKeys.DefaultTime2Retain: _parameters.DefaultTime2Retain = v; break;
            case TextKeys.MaxOutstandingR2T: _parameters.MaxOutstandingR2T = v; break;
            case TextKeys.ErrorRecoveryLevel: _parameters.ErrorRecoveryLevel = v; break;
        }
    }
}
