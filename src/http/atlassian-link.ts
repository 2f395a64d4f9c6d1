/**
 * The link helper of a consumer's admin page: the exact values an administrator pastes
 * into Jira's or Confluence's "Generic Application" link, and whether the consumer's
 * registered callback lets Jira's callback through. A presenter: plain strings for the
 * view, no I/O.
 *
 * How an Atlassian Data Center product behaves as the consumer of a generic application
 * link: it signs with HMAC-SHA1 and the shared secret pasted into the link, calls the
 * three protocol endpoints at Atlassian's own paths, and sends its users back to
 * `<jira>/plugins/servlet/applinks/oauth/login-dance/access?applicationLinkID=…&redirectUrl=…`.
 */
import type { ConsumerSummary } from '../db/consumers';

/** Jira's and Confluence's OAuth callback, below their base URL (context path included). */
export const ATLASSIAN_CALLBACK_PATH = '/plugins/servlet/applinks/oauth/login-dance/access';

/** Atlassian's paths of the three protocol endpoints (applink serves them beside /oauth/…). */
export const ATLASSIAN_ENDPOINT_PATHS = Object.freeze({
  requestToken: '/plugins/servlet/oauth/request-token',
  authorize: '/plugins/servlet/oauth/authorize',
  accessToken: '/plugins/servlet/oauth/access-token',
});

export interface LinkField {
  /** element id (stable: the browser tests and the docs name them) */
  id: string;
  /** the label of the field on Jira's "Link applications" screen */
  label: string;
  /** what to paste; null: nothing to paste (see `note`) */
  value: string | null;
  note: string;
}

export type CallbackState =
  /** registered, and it is a Jira/Confluence callback: Jira's dance passes */
  | { kind: 'atlassian'; registered: string; product: string }
  /** nothing registered: any callback passes (an open redirect for whoever holds the secret) */
  | { kind: 'none' }
  /** registered, but not Jira's: Jira's request token is refused with parameter_rejected */
  | { kind: 'other'; registered: string };

export interface AtlassianLink {
  /** the URL to type into Jira's "Create link" dialog */
  applicationUrl: string;
  fields: LinkField[];
  /** false: the consumer has no shared secret, and Jira's generic link needs one */
  hasSecret: boolean;
  /** true: APPLINK_BASE_URL is unset, so the URLs come from how this page was reached */
  derivedBaseUrl: boolean;
  callback: CallbackState;
  /** Jira's callback with a placeholder for its base URL */
  callbackPattern: string;
  /** an example of what to register as the consumer's callback */
  callbackTemplate: string;
  /** the consumer's page (the shared secret's field points here to regenerate it) */
  consumerName: string;
}

/** The callback state of a registered callback URL. */
export function callbackState(registered: string | null): CallbackState {
  if (!registered) return { kind: 'none' };
  let url: URL;
  try {
    url = new URL(registered);
  } catch {
    return { kind: 'other', registered };
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith(ATLASSIAN_CALLBACK_PATH)) {
    // Jira's base URL: origin plus its context path, if any (https://host/jira).
    const product = url.origin + path.slice(0, path.length - ATLASSIAN_CALLBACK_PATH.length);
    return { kind: 'atlassian', registered, product };
  }
  return { kind: 'other', registered };
}

/**
 * The values for Jira's "Link applications" screen (Generic Application), in the order
 * Jira shows its fields. `root` is the public base URL: origin and base path, no trailing
 * slash.
 */
export function atlassianLink(root: string, consumer: ConsumerSummary, derivedBaseUrl: boolean): AtlassianLink {
  const url = (path: string) => `${root}${path}`;
  const fields: LinkField[] = [
    {
      id: 'atl-application-name',
      label: 'Application Name',
      value: 'applink',
      note: 'Any name; Jira shows it to its users on the "Authenticate" prompt.',
    },
    {
      id: 'atl-application-type',
      label: 'Application Type',
      value: 'Generic Application',
      note: 'Choose it from the list.',
    },
    {
      id: 'atl-service-provider-name',
      label: 'Service Provider Name',
      value: 'applink',
      note: 'Any name.',
    },
    { id: 'atl-consumer-key', label: 'Consumer key', value: consumer.key, note: 'Exactly as shown.' },
    {
      id: 'atl-shared-secret',
      label: 'Shared secret',
      value: null,
      note: consumer.hasSecret
        ? 'The secret shown once when this consumer was created. applink cannot show it again: if it is lost, use Regenerate… (Shared secret, at the top of this page) and paste the new one.'
        : 'This consumer has no shared secret (it signs with an RSA key). Use Generate one… (Shared secret, at the top of this page): Jira signs with HMAC-SHA1 and the secret.',
    },
    {
      id: 'atl-request-token-url',
      label: 'Request Token URL',
      value: url(ATLASSIAN_ENDPOINT_PATHS.requestToken),
      note: 'Jira posts every parameter in the form body here.',
    },
    {
      id: 'atl-access-token-url',
      label: 'Access token URL',
      value: url(ATLASSIAN_ENDPOINT_PATHS.accessToken),
      note: '',
    },
    {
      id: 'atl-authorize-url',
      label: 'Authorize URL',
      value: url(ATLASSIAN_ENDPOINT_PATHS.authorize),
      note: 'Jira sends its users here to allow or deny.',
    },
    {
      id: 'atl-signature-method',
      label: 'Signature method',
      value: 'HMAC-SHA1',
      note: 'Jira signs with HMAC-SHA1 when a shared secret is set; its form has no field for it (pick HMAC-SHA1 where another product asks).',
    },
    {
      id: 'atl-create-incoming-link',
      label: 'Create incoming link',
      value: null,
      note: 'Leave it unticked: that box links the other way (applink calling Jira), which applink does not do.',
    },
  ];
  return {
    applicationUrl: root,
    fields,
    hasSecret: consumer.hasSecret,
    derivedBaseUrl,
    callback: callbackState(consumer.callbackUrl),
    callbackPattern: `<Jira base URL>${ATLASSIAN_CALLBACK_PATH}`,
    callbackTemplate: `https://jira.example.com${ATLASSIAN_CALLBACK_PATH}`,
    consumerName: consumer.name,
  };
}
