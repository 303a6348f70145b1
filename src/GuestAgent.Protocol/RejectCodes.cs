namespace GuestAgent.Protocol;

/// <summary>
/// Why a command was refused; sent as <c>error.code</c> of a <c>rejected</c> reply. Codes are
/// stable wire values: controllers may branch on them, so never rename one.
/// </summary>
public static class RejectCodes
{
    /// <summary>
    /// The body is not JSON (syntax, invalid UTF-8, duplicate property names, nesting deeper than 64,
    /// NaN or Infinity, an escaped unpaired surrogate).
    /// </summary>
    public const string MalformedJson = "malformed_json";

    /// <summary>The body is JSON but not an object.</summary>
    public const string NotAnObject = "not_an_object";

    /// <summary><c>v</c> is not a version this agent speaks.</summary>
    public const string UnsupportedVersion = "unsupported_version";

    /// <summary>A required field is absent or null.</summary>
    public const string MissingField = "missing_field";

    /// <summary>A field has the wrong JSON type (a number where a string belongs, ...).</summary>
    public const string WrongType = "wrong_type";

    /// <summary><c>op</c> names no operation this agent knows.</summary>
    public const string UnknownOp = "unknown_op";

    /// <summary>A field has the right type but a value outside what is allowed.</summary>
    public const string InvalidValue = "invalid_value";

    /// <summary>The raw body is larger than <see cref="ProtocolLimits.MaxCommandBytes"/>.</summary>
    public const string Oversize = "oversize";

    /// <summary>The command is past <c>expires_at</c>, issued in the future, or expires before it was issued.</summary>
    public const string Expired = "expired";

    /// <summary>The op is known but this agent's policy for the tenant does not allow it.</summary>
    public const string Forbidden = "forbidden";

    /// <summary>The command has no <c>sig</c> and the tenant binding does not accept unsigned commands.</summary>
    public const string Unsigned = "unsigned";

    /// <summary><c>sig.kid</c> names no key of the tenant binding.</summary>
    public const string UnknownKey = "unknown_key";

    /// <summary><c>sig.mac</c> does not match the command under the named key (tampered, or another secret).</summary>
    public const string BadSignature = "bad_signature";

    /// <summary>
    /// The agent failed while judging the command (a defect of the agent, not of the body as far as
    /// it can tell); nothing ran. Sending the same command again will most likely fail the same way.
    /// </summary>
    public const string InternalError = "internal_error";

    public static IReadOnlyList<string> All { get; } =
        [MalformedJson, NotAnObject, UnsupportedVersion, MissingField, WrongType, UnknownOp, InvalidValue, Oversize, Expired, Forbidden,
         Unsigned, UnknownKey, BadSignature, InternalError];
}
