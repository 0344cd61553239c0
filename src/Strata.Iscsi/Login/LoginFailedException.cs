namespace Strata.Iscsi.Login;

/// <summary>
/// Ends a login with a non-success status. Thrown inside the negotiation and caught by
/// <see cref="LoginNegotiator.Process"/>, which turns it into the final Login Response; it never escapes.
/// </summary>
internal sealed class LoginFailedException : Exception
{
    public LoginFailedException(LoginStatus status, string reason)
        : base(reason)
    {
        Status = status;
    }

    public LoginStatus Status { get; }

    public static LoginFailedException InitiatorError(string reason) => new(LoginStatus.InitiatorError, reason);

    public static LoginFailedException AuthenticationFailure(string reason) => new(LoginStatus.AuthenticationFailure, reason);
}
