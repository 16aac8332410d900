/** The challenge sent with every 401: either scheme works (see Authenticator.principalOfAuthorization). */
export const WWW_AUTHENTICATE = 'Basic realm="strata", charset="UTF-8", Bearer realm="strata"';
