import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { classifyThrown, errorFromClass } from '../milvus/status.js';
import {
  etcdTlsOptions,
  milvusTlsConfig,
  nodeTlsOptions,
  tlsRejection,
  tlsRejectionMessage,
} from './endpoint-tls.js';

const CA = '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n';

describe('milvusTlsConfig (SDK ClientConfig)', () => {
  it('is empty with TLS off and a plain address', () => {
    expect(milvusTlsConfig(undefined, '127.0.0.1:19530')).toEqual({});
    expect(milvusTlsConfig({ enabled: false, ca_pem: CA }, 'http://h:1')).toEqual({});
  });

  it('turns TLS on for an https address, with the system roots', () => {
    expect(milvusTlsConfig(undefined, 'https://h:443')).toEqual({ ssl: true, tls: {} });
  });

  it('passes the CA, the client certificate and the server name', () => {
    expect(
      milvusTlsConfig(
        { enabled: true, ca_pem: CA, cert_pem: CERT, key_pem: KEY, server_name: 'milvus.internal' },
        '10.0.0.5:19530',
      ),
    ).toEqual({
      ssl: true,
      tls: {
        rootCert: Buffer.from(CA),
        certChain: Buffer.from(CERT),
        privateKey: Buffer.from(KEY),
        serverName: 'milvus.internal',
      },
    });
  });

  it('skips verification without dropping a client certificate', () => {
    expect(milvusTlsConfig({ enabled: true, insecure_skip_verify: true }, 'h:1').tls).toEqual({
      skipCertCheck: true,
    });
    const mutual = milvusTlsConfig(
      { enabled: true, insecure_skip_verify: true, cert_pem: CERT, key_pem: KEY },
      'h:1',
    ).tls;
    expect(mutual?.skipCertCheck).toBeUndefined();
    expect(mutual?.privateKey).toEqual(Buffer.from(KEY));
    expect(mutual?.verifyOptions?.['rejectUnauthorized']).toBe(false);
  });
});

describe('etcdTlsOptions (etcd3)', () => {
  it('is empty with TLS off', () => {
    expect(etcdTlsOptions({ enabled: false, ca_pem: CA })).toEqual({});
  });

  it('gives the system roots when no CA is set (an empty buffer would trust nothing)', () => {
    const o = etcdTlsOptions({ enabled: true });
    expect(o.credentials?.rootCertificate.toString()).toBe(rootCertificates.join('\n'));
    expect(o.credentials?.privateKey).toBeUndefined();
  });

  it('passes CA, client certificate and the server name as a channel override', () => {
    expect(
      etcdTlsOptions({
        enabled: true,
        ca_pem: CA,
        cert_pem: CERT,
        key_pem: KEY,
        server_name: 'etcd.internal',
      }),
    ).toEqual({
      credentials: {
        rootCertificate: Buffer.from(CA),
        certChain: Buffer.from(CERT),
        privateKey: Buffer.from(KEY),
      },
      grpcOptions: {
        'grpc.ssl_target_name_override': 'etcd.internal',
        'grpc.default_authority': 'etcd.internal',
      },
    });
  });
});

describe('nodeTlsOptions (kafkajs ssl, probes)', () => {
  it('maps every setting', () => {
    expect(nodeTlsOptions(undefined)).toBeUndefined();
    expect(
      nodeTlsOptions({
        enabled: true,
        ca_pem: CA,
        cert_pem: CERT,
        key_pem: KEY,
        server_name: 'kafka.internal',
        insecure_skip_verify: true,
      }),
    ).toEqual({
      ca: CA,
      cert: CERT,
      key: KEY,
      servername: 'kafka.internal',
      rejectUnauthorized: false,
    });
  });
});

/** Texts captured from grpc-js, kafkajs and etcd3 against real servers with wrong settings. */
const REFUSALS = [
  '14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate. Resolution note:  (retried 3 times, 194ms)',
  '14 UNAVAILABLE: No connection established. Last error: 800C6604DA7F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42',
  "14 UNAVAILABLE: No connection established. Last error: Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: Host: evil.example.",
  'Connection error: unable to verify the first certificate',
  'self-signed certificate in certificate chain',
  'C0:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required',
  'ssl3_get_record:wrong version number',
];
const NOT_REFUSALS = [
  '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:19530',
  'Client network socket disconnected before secure TLS connection was established',
  'read ECONNRESET',
  '4 DEADLINE_EXCEEDED: Deadline exceeded',
];

describe('tlsRejection', () => {
  it.each(REFUSALS)('recognises %s', (text) => {
    expect(tlsRejection(new Error(text))).toBeDefined();
  });

  it.each(NOT_REFUSALS)('does not take %s for one', (text) => {
    expect(tlsRejection(new Error(text))).toBeUndefined();
  });

  it('looks into causes and gRPC details', () => {
    const wrapped = new Error('opening', {
      cause: new Error('unable to verify the first certificate'),
    });
    expect(tlsRejection(wrapped)).toBe('unable to verify the first certificate');
    const grpc = Object.assign(new Error('14 UNAVAILABLE'), {
      code: 14,
      details: 'Last error: self-signed certificate',
      metadata: {},
    });
    expect(tlsRejection(grpc)).toBe('self-signed certificate');
  });

  it('makes an SDK call refused by TLS a FAILED_PRECONDITION, not a retryable outage', () => {
    const err = Object.assign(new Error(REFUSALS[0]), {
      code: 14,
      details: REFUSALS[0],
      metadata: {},
    });
    const { cls, details } = classifyThrown(err);
    expect(cls.kind).toBe('tlsRejected');
    const e = errorFromClass('writing rows', cls, details, err);
    expect(e.code).toBe('FAILED_PRECONDITION');
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(
      `writing rows: ${tlsRejectionMessage('Milvus', 'unable to verify the first certificate')}`,
    );
  });
});
